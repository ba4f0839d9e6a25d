//! Writing image sequences: which items are the frames of which sequence
//! ([`plan`]), the object ids of a frame's bitmap (track ids kept), and
//! one release sample per sequence, assembled from its frames' records.
//!
//! A dataset is written as sequences when every item key is
//! `<sequence>/<frame>` as the reader makes them: per sequence the frames
//! are consecutive items numbered 0, 1, … in order, zero-padded to the
//! digits of the last. Items read from sequences are so keyed, also after
//! a conversion through another format; `--single-images` writes every
//! item as its own sample instead.

use super::write::uuid_of;
use super::{DEFAULT_LABELSET, SUBSET_KEY};
use crate::formats::api::Record;
use crate::model::{ClassKind, Item, Origin, Segment};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::iter::Peekable;

/// One sequence of the output: its sample key and its frames' item indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sequence {
    /// The sample's key (its name).
    pub key: String,
    /// Item indices of frames 0, 1, …
    pub items: std::ops::Range<usize>,
}

/// The item key of frame `frame` of a sequence of `frames` frames keyed
/// `sequence`: `clip/07` for frame 7 of 12 (the index zero-padded to the
/// digits of the last one).
pub(super) fn frame_key(sequence: &str, frame: usize, frames: usize) -> String {
    let digits = frames.saturating_sub(1).to_string().len();
    format!("{sequence}/{frame:0digits$}")
}

/// The sequences `items` form (see the module docs); `None` when they do
/// not all fit the rule. Also whether every item came from a sequence.
pub(super) fn plan(items: &[Item]) -> Option<(Vec<Sequence>, bool)> {
    if items.is_empty() {
        return None;
    }
    let mut sequences: Vec<Sequence> = Vec::new();
    let mut seen = HashSet::new();
    let mut start = 0;
    while start < items.len() {
        let (key, _) = items[start].key.rsplit_once('/')?;
        let end = start
            + items[start..]
                .iter()
                .take_while(|item| item.key.rsplit_once('/').is_some_and(|(k, _)| k == key))
                .count();
        let numbered = items[start..end]
            .iter()
            .enumerate()
            .all(|(i, item)| item.key == frame_key(key, i, end - start));
        if !numbered || !seen.insert(key) {
            return None;
        }
        sequences.push(Sequence {
            key: key.to_string(),
            items: start..end,
        });
        start = end;
    }
    let from_sequences = items
        .iter()
        .all(|item| item.origin.get(Origin::SEQUENCE).is_some());
    Some((sequences, from_sequences))
}

/// Largest id a stuff segment's track takes: stuff of class `c` is track
/// `STUFF_TRACKS − c` in every frame, so a class keeps one track across a
/// sequence and ids stay below the SDK cache's 16-bit clip.
const STUFF_TRACKS: u32 = 65535;

/// The object (= track) id of each segment of a frame (index 0 unused):
/// a thing keeps its instance number (its track id) when the frame's are
/// distinct and within 24 bits; stuff of class `c` is `65535 − c`; what
/// collides takes the smallest id left.
pub(super) fn track_ids(segments: &[Segment], catalog_kind: impl Fn(u32) -> ClassKind) -> Vec<u32> {
    let wanted: Vec<Option<u32>> = segments
        .iter()
        .map(|s| match catalog_kind(s.class) {
            ClassKind::Thing => s.instance.filter(|&k| (1..=super::MAX_ID).contains(&k)),
            ClassKind::Stuff => STUFF_TRACKS.checked_sub(s.class).filter(|&k| k > 0),
        })
        .collect();
    let mut taken = HashSet::new();
    let mut ids = vec![0];
    let mut pending = Vec::new();
    for (i, want) in wanted.iter().enumerate() {
        match want {
            Some(k) if taken.insert(*k) => ids.push(*k),
            _ => {
                ids.push(0);
                pending.push(i + 1);
            }
        }
    }
    let mut next = 1;
    for slot in pending {
        while taken.contains(&next) {
            next += 1;
        }
        taken.insert(next);
        ids[slot] = next;
    }
    ids
}

/// The records of `sequence`'s frames, taken from `records` (the written
/// items' records in item order): each frame's, or `None` when its item
/// was not written (`--keep-going`).
pub(super) fn frames(
    sequence: &Sequence,
    records: &mut Peekable<impl Iterator<Item = std::io::Result<(usize, Record)>>>,
) -> std::io::Result<Vec<Option<Value>>> {
    let mut frames = Vec::with_capacity(sequence.items.len());
    for index in sequence.items.clone() {
        let here = matches!(records.peek(), Some(Ok((at, _))) if *at == index)
            || matches!(records.peek(), Some(Err(_)));
        frames.push(match here {
            false => None,
            true => {
                let (_, record) = records.next().expect("peeked")?;
                Some(serde_json::from_str(&record.text).map_err(std::io::Error::other)?)
            }
        });
    }
    Ok(frames)
}

/// The release sample of `sequence` from its frames' records, and its label
/// attributes (`None` when no frame has a mask: the label is null).
pub(super) fn sample(sequence: &Sequence, frames: Vec<Option<Value>>) -> (Value, Option<Value>) {
    let field = |name: &str| {
        frames
            .iter()
            .flatten()
            .find_map(|frame| frame.get(name).filter(|v| !v.is_null()).cloned())
    };
    let uuid = field("uuid").unwrap_or_else(|| uuid_of(&sequence.key).into());
    let mut metadata = Map::new();
    if let Some(subset) = field("subset") {
        metadata.insert(SUBSET_KEY.into(), subset);
    }
    let mut images = Vec::with_capacity(frames.len());
    let mut labels = Vec::with_capacity(frames.len());
    for frame in frames {
        let (image, label) = match frame {
            Some(Value::Object(mut frame)) => (frame.remove("image"), frame.remove("frame")),
            _ => (None, None),
        };
        images.push(json!({"image": {"url": image.unwrap_or_else(|| "".into())}}));
        labels.push(match label {
            Some(label @ Value::Object(_)) => label,
            // No mask (or not written): a frame without bitmap.
            _ => json!({"format_version": "0.1", "annotations": []}),
        });
    }
    let labelled = labels
        .iter()
        .any(|l| l.get("segmentation_bitmap").is_some());
    let label = labelled.then(|| json!({"format_version": "0.1", "frames": labels}));
    let sample = json!({
        "uuid": uuid,
        "name": sequence.key,
        "metadata": metadata,
        "attributes": {"frames": images},
        "labels": {DEFAULT_LABELSET: match &label {
            Some(attributes) => json!({"label_status": "LABELED", "attributes": attributes}),
            None => Value::Null,
        }},
    });
    (sample, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str) -> Item {
        Item::new(key)
    }

    #[test]
    fn keys_of_numbered_frames_plan_sequences() {
        let items: Vec<Item> = [
            "a/0", "a/1", "b/00", "b/01", "b/02", "b/03", "b/04", "b/05", "b/06", "b/07", "b/08",
            "b/09", "b/10", "c/d/0",
        ]
        .into_iter()
        .map(item)
        .collect();
        let (planned, from) = plan(&items).unwrap();
        let keys: Vec<(&str, usize)> = planned
            .iter()
            .map(|s| (s.key.as_str(), s.items.len()))
            .collect();
        assert_eq!(keys, [("a", 2), ("b", 11), ("c/d", 1)]);
        assert!(!from, "the items carry no sequence origin");
        for refused in [
            vec!["a/1", "a/2"],        // not from 0
            vec!["a/0", "b/0", "a/1"], // not consecutive
            vec!["a/0", "a/01"],       // padding
            vec!["a/0", "plain"],      // not a frame
            vec!["a/00", "a/01"],      // padded beyond the last index's digits
        ] {
            let items: Vec<Item> = refused.iter().map(|k| item(k)).collect();
            assert_eq!(plan(&items), None, "{refused:?}");
        }
        assert_eq!(plan(&[]), None);
    }

    #[test]
    fn frames_keep_thing_track_ids_and_give_stuff_one_per_class() {
        let kind = |class: u32| {
            if class == 1 {
                ClassKind::Thing
            } else {
                ClassKind::Stuff
            }
        };
        let seg = |class, instance| Segment::new(class, instance);
        let ids = track_ids(
            &[
                seg(1, Some(40)),
                seg(2, None),
                seg(1, Some(7)),
                seg(3, None),
            ],
            kind,
        );
        assert_eq!(ids, vec![0, 40, 65533, 7, 65532]);
        // Colliding or missing instance numbers take the smallest ids left.
        let ids = track_ids(&[seg(1, Some(2)), seg(1, Some(2)), seg(1, None)], kind);
        assert_eq!(ids, vec![0, 2, 1, 3]);
    }
}
