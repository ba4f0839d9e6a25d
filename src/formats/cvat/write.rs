//! Writing: the label map sorted as CVAT sorts it, class colours that stay
//! distinct, object numbers that fit 1..255, 8-bit RGB PNGs, subset lists.

use super::labelmap::is_py_space;
use super::{
    BACKGROUND, BLACK, CLASS_DIR, DEFAULT_SUBSET, IMAGE_DIR, INFO, LABELMAP, OBJECT_DIR, SUBSET_DIR,
};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Encoded, OutputFile, Writer, Written};
use crate::formats::colors::{distinct_rgb8, voc_color};
use crate::formats::common::source_image;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics};
use crate::model::{Catalog, Item, LabelMap, Segment, key_to_path};
use crate::remap::paint_row;
use crate::report::Warning;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Writes CVAT "Segmentation mask 1.1".
pub(super) struct CvatWriter<'a> {
    catalog: &'a Catalog,
    compression: Compression,
    /// Class colour by class id (index 0: background, black).
    palette: Vec<[u8; 3]>,
    /// For a class whose colour another class shares and that CVAT would read
    /// as that other class: the other class's name.
    shadowed_by: Vec<Option<String>>,
    /// `labelmap.txt`.
    labelmap: String,
    /// The dataset is CVAT's own: class pixels its object masks left in no
    /// object stay in none (CVAT's importer drops them; no object is made up).
    from_cvat: bool,
}

/// Why a class name cannot be written to `labelmap.txt`, if it cannot.
fn unwritable_name(name: &str) -> Option<&'static str> {
    if name.contains(':') {
        Some("contains ':', the labelmap.txt field separator")
    } else if name.starts_with('#') {
        Some("starts with '#', which makes the labelmap.txt line a comment")
    } else if name.contains(['\n', '\r']) {
        Some("contains a line break")
    } else if name.starts_with(is_py_space) {
        Some("starts with whitespace, which CVAT strips")
    } else if name == BACKGROUND {
        Some("is CVAT's background label, which maskconv keeps for unlabeled pixels")
    } else {
        None
    }
}

/// Whether labelmap.txt can hold class attribute `name` (see [`writable_list`]).
pub(super) fn is_writable_attribute(name: &str, value: &Value) -> bool {
    (name == "parts" || name == "actions") && writable_list(value).is_some()
}

/// A `parts`/`actions` attribute as CVAT can write it, if it can.
fn writable_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| {
            let s = v.as_str()?;
            let ok = !s.is_empty()
                && !s.contains([':', ',', '\n', '\r'])
                && s.trim_matches(is_py_space) == s;
            ok.then(|| s.to_string())
        })
        .collect()
}

impl<'a> CvatWriter<'a> {
    /// Plans the label map (names, colours that stay distinct, parts and
    /// actions) from the catalog; refuses names labelmap.txt cannot hold.
    pub(super) fn new(
        dataset: &'a Dataset,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Self> {
        let catalog = &dataset.catalog;
        for (_, class) in catalog.iter() {
            if let Some(why) = unwritable_name(&class.name) {
                return Err(Error::input(
                    format!("class '{}'", class.name),
                    format!(
                        "cannot be written to labelmap.txt: the name {why}; rename the class in the source"
                    ),
                ));
            }
        }
        check_items(&dataset.items, &mut out.warnings)?;
        let palette = distinct_rgb8(catalog, &mut out.warnings);

        // labelmap.txt lines, sorted by name (code point order) as CVAT writes them.
        let mut lines: Vec<(&str, [u8; 3], String, String)> =
            vec![(BACKGROUND, BLACK, String::new(), String::new())];
        for (id, class) in catalog.iter() {
            let mut fields = [String::new(), String::new()];
            for (slot, key) in fields.iter_mut().zip(["parts", "actions"]) {
                if let Some(list) = class.attributes.get(key).and_then(writable_list) {
                    *slot = list.join(",");
                }
            }
            let [parts, actions] = fields;
            lines.push((&class.name, palette[id as usize], parts, actions));
        }
        lines.sort_by(|a, b| a.0.cmp(b.0));

        // A colour shared by several classes reads back as the last of them.
        let mut last_of_color: HashMap<[u8; 3], &str> = HashMap::new();
        for (name, rgb, _, _) in &lines {
            last_of_color.insert(*rgb, name);
        }
        let mut shadowed_by = vec![None; catalog.len() + 1];
        for (id, class) in catalog.iter() {
            let last = last_of_color[&palette[id as usize]];
            if last != class.name {
                shadowed_by[id as usize] = Some(last.to_string());
            }
        }
        let mut labelmap = String::from("# label:color_rgb:parts:actions\n");
        for (name, [r, g, b], parts, actions) in &lines {
            labelmap.push_str(&format!("{name}:{r},{g},{b}:{parts}:{actions}\n"));
        }
        Ok(CvatWriter {
            catalog,
            compression,
            palette,
            shadowed_by,
            labelmap,
            from_cvat: dataset.format.name == super::INFO.name,
        })
    }
}

impl Writer for CvatWriter<'_> {
    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    fn header(&self) -> Vec<OutputFile> {
        vec![OutputFile::new(LABELMAP, self.labelmap.as_str())]
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        _out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let mut files: Vec<OutputFile> = source_image(item, image, ".jpg")
            .map(|(bytes, ext)| {
                OutputFile::new(format!("{IMAGE_DIR}{}{ext}", key_to_path(&item.key)), bytes)
            })
            .into_iter()
            .collect();
        let Some(map) = map else {
            return Ok(Encoded {
                files,
                ..Encoded::default()
            });
        };
        let object_of = self.object_numbers(item, map)?;
        let class_palette: Vec<[u8; 3]> = std::iter::once(BLACK)
            .chain(
                map.segments()
                    .iter()
                    .map(|s| self.palette[s.class as usize]),
            )
            .collect();
        let object_palette: Vec<[u8; 3]> = object_of.iter().map(|&o| voc_color(o)).collect();
        let (w, h) = (map.width(), map.height());
        for (folder, palette) in [(CLASS_DIR, &class_palette), (OBJECT_DIR, &object_palette)] {
            let png = encode_png_rows(w, h, PngLayout::Rgb8, self.compression, |y, row| {
                paint_row(map.row(y), palette, row)
            });
            files.push(OutputFile::new(
                format!("{folder}{}.png", key_to_path(&item.key)),
                png,
            ));
        }
        Ok(Encoded {
            files,
            ..Encoded::default()
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, _out: &mut Diagnostics) -> Result<()> {
        let mut subsets: Vec<(&str, String)> = Vec::new();
        for item in written.items() {
            let subset = item.subset.as_deref().unwrap_or(DEFAULT_SUBSET);
            let slot = match subsets.iter().position(|(s, _)| *s == subset) {
                Some(slot) => slot,
                None => {
                    subsets.push((subset, String::new()));
                    subsets.len() - 1
                }
            };
            subsets[slot].1.push_str(&key_to_path(&item.key));
            subsets[slot].1.push('\n');
        }
        if subsets.is_empty() {
            subsets.push((DEFAULT_SUBSET, String::new()));
        }
        for (subset, list) in subsets {
            sink.write_file(&format!("{SUBSET_DIR}{subset}.txt"), list.as_bytes())?;
        }
        Ok(())
    }
}

/// How many object numbers `map` needs: segments with pixels each need one,
/// except that those keeping an instance number (when every instance fits
/// 1..255) share it with the segments of other classes that have it (an
/// object spanning classes).
pub(super) fn object_numbers_needed(map: &LabelMap) -> usize {
    let segments = map.segments();
    let counts = map.pixel_counts();
    let keep = keeps_instance_numbers(segments);
    let mut kept = [false; 256];
    let mut numbered = 0;
    for (segment, _) in segments.iter().zip(&counts[1..]).filter(|(_, n)| **n > 0) {
        match (keep, segment.instance) {
            (true, Some(k)) => kept[k as usize] = true,
            _ => numbered += 1,
        }
    }
    kept.iter().filter(|&&k| k).count() + numbered
}

/// Whether the instance numbers of `segments` are kept as object numbers:
/// when every one fits 1..255.
fn keeps_instance_numbers(segments: &[Segment]) -> bool {
    segments
        .iter()
        .all(|s| s.instance.is_none_or(|k| (1..=255).contains(&k)))
}

impl CvatWriter<'_> {
    /// The object number of every segment id (index 0 = unlabeled = 0). Every
    /// segment gets one, stuff included, since CVAT's importer drops pixels
    /// without one (except, in a CVAT dataset's own items, the class pixels
    /// its object mask left in no object). Instance numbers are kept when all fit 1..255; the other
    /// segments take the numbers left free (the numbers of segments without
    /// pixels are reused when needed: the planned losses let at most 255
    /// segments with pixels through). Fails when a class CVAT would misread
    /// (shared colour) has pixels.
    fn object_numbers(&self, item: &Item, map: &LabelMap) -> Result<Vec<u8>> {
        let segments = map.segments();
        let fail = |what: String| {
            Err(Error::input(format!("item '{}'", item.key), what).in_format(INFO.name))
        };
        let needs_counts = segments.len() > 255
            || segments
                .iter()
                .any(|s| self.shadowed_by[s.class as usize].is_some());
        let counts = needs_counts.then(|| map.pixel_counts());
        let present = |segment: usize| counts.as_ref().is_none_or(|c| c[segment + 1] > 0);
        for (i, segment) in segments.iter().enumerate() {
            if let Some(other) = &self.shadowed_by[segment.class as usize]
                && present(i)
            {
                return fail(format!(
                    "class '{}' has the same colour as '{other}', so CVAT would read its pixels as '{other}'; give the two classes different colours in the source (e.g. in its labelmap.txt)",
                    self.catalog.get(segment.class).name
                ));
            }
        }
        // Keep instance numbers when all of them fit a byte; give the other
        // segments the numbers left free, in segment order. When that needs
        // more than 255, only segments with pixels keep theirs.
        let keep = keeps_instance_numbers(segments);
        // Read from CVAT with an object mask: its class pixels in no object
        // are written in none again.
        let objectless_stays =
            self.from_cvat && item.mask.as_ref().is_some_and(|m| m.files.len() == 2);
        let numbered = |reserve_absent: bool| -> Option<Vec<u8>> {
            let mut object_of = vec![0u8; segments.len() + 1];
            let mut taken = [false; 256];
            taken[0] = true;
            for (i, segment) in segments.iter().enumerate() {
                if let (true, Some(k)) = (keep, segment.instance)
                    && (reserve_absent || present(i))
                {
                    object_of[i + 1] = k as u8;
                    taken[k as usize] = true;
                }
            }
            let mut free = (1..=255u8).filter(|&k| !taken[k as usize]);
            for (i, segment) in segments.iter().enumerate() {
                let objectless = objectless_stays && segment.instance.is_none();
                if !(objectless || keep && segment.instance.is_some()) && present(i) {
                    object_of[i + 1] = free.next()?;
                }
            }
            Some(object_of)
        };
        let object_of = numbered(true)
            .or_else(|| numbered(false))
            .expect("at most 255 segments with pixels reach the writer");
        Ok(object_of)
    }
}

/// Whether Python's `str.splitlines` breaks a line at `c`.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Item keys must survive a line of a subset file (CVAT strips lines and
/// skips `#` comments); subset names must be file names, and names with `_`
/// are written but warned about, since CVAT's importer skips such files.
fn check_items(items: &[Item], warnings: &mut Vec<Warning>) -> Result<()> {
    let mut underscored: BTreeSet<&str> = BTreeSet::new();
    for item in items {
        // The line is the key as a path: ASCII control characters escaped.
        let key = key_to_path(&item.key);
        if let Some(c) = key.chars().find(|&c| c.is_control() || is_line_break(c)) {
            return Err(Error::invalid_input(format!(
                "item '{key}' cannot be listed in {SUBSET_DIR}*.txt: its key holds {}, which would split or garble the line; rename the item",
                c.escape_default()
            )));
        }
        if key.starts_with('#') || key.starts_with(is_py_space) || key.ends_with(is_py_space) {
            return Err(Error::invalid_input(format!(
                "item '{key}' cannot be listed in {SUBSET_DIR}*.txt: CVAT strips whitespace around each line and skips lines starting with '#'; rename the item"
            )));
        }
        let Some(subset) = &item.subset else { continue };
        if subset.is_empty()
            || subset.contains(['/', '\\', '\0', '\n', '\r'])
            || subset.starts_with('.')
        {
            return Err(Error::input(
                format!("item '{}'", item.key),
                format!("subset '{subset}' cannot be a file name in {SUBSET_DIR}"),
            ));
        }
        if subset.contains('_') {
            underscored.insert(subset);
        }
    }
    for subset in underscored {
        warnings.push(Warning::new(
            "underscore-subset",
            format!(
                "subset '{subset}' contains '_': CVAT's importer ignores {SUBSET_DIR}{subset}.txt, so its items will not import into CVAT"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritable_names_are_caught() {
        assert!(unwritable_name("a:b").is_some());
        assert!(unwritable_name("#hash").is_some());
        assert!(unwritable_name(" lead").is_some());
        assert!(unwritable_name("background").is_some());
        assert!(unwritable_name("trail ").is_none());
        assert!(unwritable_name("ünï").is_none());
    }
}
