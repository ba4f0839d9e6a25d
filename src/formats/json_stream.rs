//! Streaming JSON: the elements of one array in a document, however large,
//! handed over one at a time, so that a release of 100 000 samples or an
//! export of 100 000 rows never sits in memory as one tree. What is held
//! whole — one element, and the rest of the document — is bounded by
//! [`MAX_HELD_BYTES`] of text each.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

/// The most JSON text held whole while streaming: one element, or the
/// document without its streamed array.
pub const MAX_HELD_BYTES: u64 = 16 << 20;

/// Bytes read so far, and where the element being read began.
#[derive(Default)]
struct Tally {
    read: Cell<u64>,
    /// Bytes read inside finished elements.
    in_elements: Cell<u64>,
    /// Where the element being read began, when one is.
    element_start: Cell<Option<u64>>,
    /// What went over [`MAX_HELD_BYTES`], once something did.
    over: Cell<Option<Held>>,
}

/// A reader that fails once an element, or the document outside its
/// elements, goes over [`MAX_HELD_BYTES`].
struct Bounded<R> {
    inner: R,
    tally: Rc<Tally>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let tally = &self.tally;
        tally.read.set(tally.read.get() + n as u64);
        let over = match tally.element_start.get() {
            Some(start) => (tally.read.get() - start > MAX_HELD_BYTES).then_some(Held::Element),
            None => {
                (tally.read.get() - tally.in_elements.get() > MAX_HELD_BYTES).then_some(Held::Rest)
            }
        };
        if let Some(what) = over {
            tally.over.set(Some(what));
            return Err(std::io::Error::other("too large"));
        }
        Ok(n)
    }
}

/// Why streaming stopped.
#[derive(Debug)]
pub enum StreamError<E> {
    /// The text is not valid JSON (the message has the line and column).
    Syntax(serde_json::Error),
    /// `each` refused an element.
    Element(E),
    /// What was to be held whole is larger than [`MAX_HELD_BYTES`].
    TooLarge(Held),
}

/// What a stream holds whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// One element of the streamed array.
    Element,
    /// The document without its streamed array.
    Rest,
}

/// What `each` does with one element: `Err` stops the stream.
pub type Each<'a, E> = dyn FnMut(usize, Value) -> Result<(), E> + 'a;

/// What `each` does with one element of one of several streamed arrays: it
/// gets the array's place in the list of paths, then the element's index.
pub type EachOf<'a, E> = dyn FnMut(usize, usize, Value) -> Result<(), E> + 'a;

/// Reads the JSON document from `reader`, handing every element of the
/// array found at `path` (object keys from the top; empty: the document
/// itself) to `each` with its index, and returns the rest of the document
/// with that array left empty. When the value at `path` is not an array
/// (or is missing) the document is returned whole and `each` is never called.
pub fn stream_array<E>(
    reader: impl Read,
    path: &[&str],
    each: &mut Each<'_, E>,
) -> Result<Value, StreamError<E>> {
    stream_arrays(reader, &[path], &mut |_, index, value| each(index, value))
}

/// [`stream_array`] over the arrays at several `paths` at once (COCO's
/// `images` and `annotations`), in the order the document has them.
pub fn stream_arrays<E>(
    reader: impl Read,
    paths: &[&[&str]],
    each: &mut EachOf<'_, E>,
) -> Result<Value, StreamError<E>> {
    let mut failure = None;
    let tally = Rc::new(Tally::default());
    let bounded = Bounded {
        inner: reader,
        tally: tally.clone(),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(bounded);
    let node = Node {
        paths: paths.iter().copied().enumerate().collect(),
        each,
        failure: &mut failure,
        tally: &tally,
    };
    let result = node
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match (result, failure, tally.over.get()) {
        (_, Some(e), _) => Err(StreamError::Element(e)),
        (Err(_), None, Some(what)) => Err(StreamError::TooLarge(what)),
        (Ok(value), None, _) => Ok(value),
        (Err(e), None, None) => Err(StreamError::Syntax(e)),
    }
}

/// A value on the way to the streamed arrays (or one of them, when its
/// path is empty): the paths still to go below it, with their places.
struct Node<'p, 'e, 'f, E> {
    paths: Vec<(usize, &'p [&'p str])>,
    each: &'e mut EachOf<'f, E>,
    failure: &'e mut Option<E>,
    tally: &'e Tally,
}

impl<'de, E> DeserializeSeed<'de> for Node<'_, '_, '_, E> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E> Visitor<'de> for Node<'_, '_, '_, E> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let Node {
            paths,
            each,
            failure,
            tally,
        } = self;
        let mut streamed: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let below: Vec<(usize, &[&str])> = paths
                .iter()
                .filter_map(|&(place, path)| match path.split_first() {
                    Some((first, rest)) if *first == key => Some((place, rest)),
                    _ => None,
                })
                .collect();
            let value = if below.is_empty() {
                map.next_value::<Value>()?
            } else if streamed.contains(&key) {
                // A second value under a streamed key would mix two arrays.
                return Err(de::Error::custom(format!("key '{key}' appears twice")));
            } else {
                streamed.push(key.clone());
                map.next_value_seed(Node {
                    paths: below,
                    each: &mut *each,
                    failure: &mut *failure,
                    tally,
                })?
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some(&(place, _)) = self.paths.iter().find(|(_, path)| path.is_empty()) else {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Value>()? {
                items.push(item);
            }
            return Ok(Value::Array(items));
        };
        let mut index = 0;
        let tally = self.tally;
        loop {
            tally.element_start.set(Some(tally.read.get()));
            let next = seq.next_element::<Value>();
            let start = tally.element_start.take().expect("set above");
            tally
                .in_elements
                .set(tally.in_elements.get() + tally.read.get() - start);
            let Some(item) = next? else { break };
            if let Err(e) = (self.each)(place, index, item) {
                *self.failure = Some(e);
                return Err(de::Error::custom("stopped"));
            }
            index += 1;
        }
        Ok(Value::Array(Vec::new()))
    }

    fn visit_bool<X: de::Error>(self, v: bool) -> Result<Value, X> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<X: de::Error>(self, v: i64) -> Result<Value, X> {
        Ok(Value::from(v))
    }

    fn visit_u64<X: de::Error>(self, v: u64) -> Result<Value, X> {
        Ok(Value::from(v))
    }

    fn visit_f64<X: de::Error>(self, v: f64) -> Result<Value, X> {
        Ok(Value::from(v))
    }

    fn visit_str<X: de::Error>(self, v: &str) -> Result<Value, X> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<X: de::Error>(self, v: String) -> Result<Value, X> {
        Ok(Value::String(v))
    }

    fn visit_unit<X: de::Error>(self) -> Result<Value, X> {
        Ok(Value::Null)
    }

    fn visit_none<X: de::Error>(self) -> Result<Value, X> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_array_at_the_path_streams_and_the_rest_is_kept() {
        let text = br#"{"a": 1, "dataset": {"samples": [{"n": 1}, {"n": 2}], "x": [3]}, "z": 2.5}"#;
        let mut seen = Vec::new();
        let rest = stream_array(&text[..], &["dataset", "samples"], &mut |i, v| {
            seen.push((i, v));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen, [(0, json!({"n": 1})), (1, json!({"n": 2}))]);
        assert_eq!(
            rest,
            json!({"a": 1, "dataset": {"samples": [], "x": [3]}, "z": 2.5})
        );
        let top = stream_array(&b"[1, 2, 3]"[..], &[], &mut |i, _| {
            if i == 1 { Err("no") } else { Ok(()) }
        });
        assert!(matches!(top, Err(StreamError::Element("no"))));
        let broken = stream_array(&b"[1, 2"[..], &[], &mut |_, _| Ok::<(), ()>(()));
        assert!(matches!(broken, Err(StreamError::Syntax(_))));
        let trailing = stream_array(&b"{} {}"[..], &["x"], &mut |_, _| Ok::<(), ()>(()));
        assert!(matches!(trailing, Err(StreamError::Syntax(_))));
        let twice = stream_array(&br#"{"x": [1], "x": [2]}"#[..], &["x"], &mut |_, _| {
            Ok::<(), ()>(())
        });
        assert!(matches!(twice, Err(StreamError::Syntax(_))));
    }

    #[test]
    fn several_arrays_stream_in_document_order() {
        let text = br#"{"images": [1, 2], "info": {}, "annotations": [3], "categories": [4]}"#;
        let mut seen = Vec::new();
        let rest = stream_arrays(
            &text[..],
            &[&["annotations"], &["images"]],
            &mut |p, i, v| {
                seen.push((p, i, v));
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, [(1, 0, json!(1)), (1, 1, json!(2)), (0, 0, json!(3))]);
        assert_eq!(
            rest,
            json!({"images": [], "info": {}, "annotations": [], "categories": [4]})
        );
    }

    #[test]
    fn an_element_or_the_rest_held_whole_is_bounded() {
        let long = "a".repeat(MAX_HELD_BYTES as usize + 1);
        let element = format!(r#"{{"s": [1, "{long}", 3]}}"#);
        let mut seen = 0;
        let result = stream_array(element.as_bytes(), &["s"], &mut |_, _| {
            seen += 1;
            Ok::<(), ()>(())
        });
        assert!(matches!(result, Err(StreamError::TooLarge(Held::Element))));
        assert_eq!(seen, 1, "the element before it was handed over");
        let rest = format!(r#"{{"s": [1, 2], "note": "{long}"}}"#);
        let result = stream_array(rest.as_bytes(), &["s"], &mut |_, _| Ok::<(), ()>(()));
        assert!(matches!(result, Err(StreamError::TooLarge(Held::Rest))));
        // Many elements, each small, however large in all.
        let many = format!("[{}1]", "\"abcdefghijklmnopq\", ".repeat(1 << 20));
        let mut count = 0;
        stream_array(many.as_bytes(), &[], &mut |_, _| {
            count += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(many.len() as u64 > MAX_HELD_BYTES);
        assert_eq!(count, (1 << 20) + 1);
    }
}
