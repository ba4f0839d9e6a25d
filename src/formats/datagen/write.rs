//! Writing: a Datagen path per item, one 16-bit colour per class (kept,
//! Datagen's own, or generated — all distinct), 16-bit RGB masks, and per
//! datapoint one metadata file listing the classes its cameras show.

use super::metadata::Tree;
use super::{
    BACKGROUND, DATAGEN_COLORS, ENVIRONMENT, INFO, ITEM_FILE, MASK_PNG, METADATA, camera_path,
    datagen_color,
};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Encoded, OutputFile, Record, Writer, Written};
use crate::formats::common::{read_small_file, source_image};
use crate::io::{Sink, Source};
use crate::losses::{Capabilities, Diagnostics};
use crate::model::{Catalog, ClassId, Color, Item, LabelMap, key_to_path};
use crate::remap::{paint_row_marking, rgb16_bytes};
use crate::report::Warning;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Where one item goes.
#[derive(Debug, PartialEq, Eq)]
struct Placement {
    /// The camera folder (`datapoint_00001/camera`).
    camera_dir: String,
    /// The folder holding the metadata file (`datapoint_00001`).
    datapoint_dir: String,
    /// Whether `maskconv_item.json` must record the key and subset.
    needs_item_file: bool,
}

/// Writes Datagen semantic segmentation.
pub(super) struct DatagenWriter<'a> {
    catalog: &'a Catalog,
    compression: Compression,
    /// 16-bit colour of each class id (index 0: background, black).
    palette: Vec<[u16; 3]>,
    /// The datapoint number of each item whose key is not a Datagen camera path.
    foreign: HashMap<&'a str, u64>,
    /// The input, when it is a Datagen dataset: its cameras' `environment.json`
    /// (image role and name, lighting fields) are carried over.
    datagen_source: Option<&'a dyn Source>,
}

/// What a Datagen input's camera `environment.json` says of the image copied.
struct SourceEnvironment {
    version: Value,
    /// Its first environment (the image the item has), every field.
    first: serde_json::Map<String, Value>,
    /// How many more environments (images not copied) it lists.
    others: usize,
}

/// Why class `name` cannot be a metadata leaf, if it cannot. `names` is
/// every class name, to find one that is a folder of another's parts.
fn unwritable_name(name: &str, names: &HashSet<&str>) -> Option<String> {
    if name == BACKGROUND {
        return Some(
            "is Datagen's background leaf, which maskconv keeps for unlabeled pixels".into(),
        );
    }
    if name.starts_with("background.") {
        return Some("would be a part of Datagen's background leaf, which holds no parts".into());
    }
    if name == "version" || name.starts_with("version.") {
        return Some("would take the place of the metadata's 'version' field".into());
    }
    if name
        .split('.')
        .skip(1)
        .any(|part| ["R", "G", "B"].contains(&part))
    {
        return Some(
            "has a part named R, G or B, which Datagen's metadata reads as a colour channel".into(),
        );
    }
    let mut prefix = name;
    while let Some((head, _)) = prefix.rsplit_once('.') {
        if names.contains(head) {
            return Some(format!(
                "is a part of class '{head}', but in Datagen's nested metadata '{head}' cannot be both a colour leaf and a folder of parts"
            ));
        }
        prefix = head;
    }
    None
}

/// Candidate generated colours: 8-bit colours in a deterministic scramble,
/// scaled ×257, so they also stay distinct (and exact) at 8 bits.
fn candidate_colors() -> impl Iterator<Item = [u16; 3]> {
    (1..1u32 << 24).map(|i| {
        let h = i.wrapping_mul(0x9E_3779) & 0xFF_FFFF;
        [
            (h >> 16) as u16 * 257,
            ((h >> 8) & 0xFF) as u16 * 257,
            (h & 0xFF) as u16 * 257,
        ]
    })
}

/// One 16-bit colour per class (index 0 = background, black). A class keeps
/// its source colour (an 8-bit one that is a Datagen class's colour rounded
/// gets Datagen's exact colour back); a class without one takes Datagen's
/// colour for its name, else a generated one. Black and colours already taken
/// are reassigned, with a warning.
fn assign_colors(catalog: &Catalog, warnings: &mut Vec<Warning>) -> Vec<[u16; 3]> {
    const BLACK: [u16; 3] = [0, 0, 0];
    let mut palette: Vec<Option<[u16; 3]>> = vec![None; catalog.len() + 1];
    palette[0] = Some(BLACK);
    let mut owner: HashMap<[u16; 3], &str> = HashMap::from([(BLACK, BACKGROUND)]);
    let mut recoloured: Vec<(ClassId, String)> = Vec::new();
    for (id, class) in catalog.iter() {
        let Some(color) = class.color else { continue };
        let wanted = match (color, datagen_color(&class.name)) {
            (Color::Rgb8(rgb), Some(exact)) if Color::Rgb16(exact).to_rgb8() == rgb => exact,
            _ => color.to_rgb16(),
        };
        match owner.get(&wanted) {
            Some(&other) => recoloured.push((id, format!("its colour is taken by '{other}'"))),
            None => {
                owner.insert(wanted, &class.name);
                palette[id as usize] = Some(wanted);
            }
        }
    }
    for (id, class) in catalog.iter() {
        if palette[id as usize].is_none()
            && class.color.is_none()
            && let Some(exact) = datagen_color(&class.name)
            && !owner.contains_key(&exact)
        {
            owner.insert(exact, &class.name);
            palette[id as usize] = Some(exact);
        }
    }
    // Generated colours avoid every colour in use, at 16 and at 8 bits, and
    // Datagen's own colours.
    let mut taken: HashSet<[u16; 3]> = owner.keys().copied().collect();
    taken.extend(DATAGEN_COLORS.iter().map(|(_, c)| *c));
    let mut taken8: HashSet<[u8; 3]> = taken.iter().map(|c| Color::Rgb16(*c).to_rgb8()).collect();
    let mut candidates = candidate_colors();
    for slot in palette.iter_mut().filter(|c| c.is_none()) {
        *slot = candidates.find(|c| {
            let narrow = Color::Rgb16(*c).to_rgb8();
            !taken.contains(c) && taken8.insert(narrow)
        });
    }
    let palette: Vec<[u16; 3]> = palette
        .into_iter()
        .map(|c| c.expect("2^24 candidates cover any catalog"))
        .collect();
    for (id, why) in recoloured {
        let class = catalog.get(id);
        warnings.push(Warning::new(
            "recoloured",
            format!(
                "class '{}' is written with colour {} instead of {}: {why}",
                class.name,
                Color::Rgb16(palette[id as usize]),
                class.color.expect("recoloured classes had a colour")
            ),
        ));
    }
    palette
}

/// The datapoint number of each item whose key is not a Datagen camera
/// `key` as a Datagen camera folder, when it is one and a path as it is
/// (no character of it needs escaping: see [`key_to_path`]).
fn own_camera_path(key: &str) -> Option<super::CameraPath<'_>> {
    camera_path(key).filter(|_| key_to_path(key) == key)
}

/// path: the next free `datapoint_NNNNN`, in item order.
fn foreign_numbers(items: &[Item]) -> HashMap<&str, u64> {
    let used: HashSet<&str> = items
        .iter()
        .filter_map(|i| own_camera_path(&i.key).map(|p| p.datapoint))
        .collect();
    let mut next = 0u64;
    let mut numbers = HashMap::new();
    for item in items.iter().filter(|i| own_camera_path(&i.key).is_none()) {
        let number = loop {
            next += 1;
            if !used.contains(datapoint_name(next).as_str()) {
                break next;
            }
        };
        numbers.insert(item.key.as_str(), number);
    }
    numbers
}

fn datapoint_name(number: u64) -> String {
    format!("datapoint_{number:05}")
}

impl<'a> DatagenWriter<'a> {
    /// Plans the colours and the items' places; refuses class names the
    /// nested metadata cannot hold.
    pub(super) fn new(
        dataset: &'a Dataset,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Self> {
        let catalog = &dataset.catalog;
        let names: HashSet<&str> = catalog.iter().map(|(_, c)| c.name.as_str()).collect();
        for (_, class) in catalog.iter() {
            if let Some(why) = unwritable_name(&class.name, &names) {
                return Err(Error::input(
                    format!("class '{}'", class.name),
                    format!(
                        "cannot be written to {METADATA}: the name {why}; rename the class in the source"
                    ),
                ));
            }
        }
        Ok(DatagenWriter {
            catalog,
            compression,
            palette: assign_colors(catalog, &mut out.warnings),
            foreign: foreign_numbers(&dataset.items),
            datagen_source: (dataset.format.name == INFO.name).then(|| dataset.source()),
        })
    }

    /// Where `item` goes: its own key when it is a Datagen camera path (one
    /// that needs no escaping), else
    /// its `datapoint_NNNNN/camera`.
    fn placement(&self, item: &Item) -> Placement {
        match own_camera_path(&item.key) {
            Some(path) => Placement {
                camera_dir: item.key.clone(),
                datapoint_dir: path.datapoint.to_string(),
                needs_item_file: item.subset.is_some(),
            },
            None => {
                let datapoint = datapoint_name(self.foreign[item.key.as_str()]);
                Placement {
                    camera_dir: format!("{datapoint}/camera"),
                    datapoint_dir: datapoint,
                    needs_item_file: true,
                }
            }
        }
    }

    fn name(&self, class: ClassId) -> &str {
        match class {
            0 => BACKGROUND,
            id => &self.catalog.get(id).name,
        }
    }
}

impl DatagenWriter<'_> {
    /// The input camera's `environment.json`, when the input is Datagen and
    /// the item's image is one it names.
    fn source_environment(&self, item: &Item) -> Option<SourceEnvironment> {
        let source = self.datagen_source?;
        let (dir, name) = item.image.as_deref()?.rsplit_once('/')?;
        let bytes = read_small_file(source, &format!("{dir}/{ENVIRONMENT}")).ok()?;
        let json: Value = serde_json::from_slice(&bytes).ok()?;
        let environments = json.get("environments")?.as_array()?;
        let first = environments.first()?.as_object()?;
        (first.get("image_name")?.as_str()? == name).then(|| SourceEnvironment {
            version: json
                .get("version")
                .cloned()
                .unwrap_or_else(|| "1.0.0".into()),
            first: first.clone(),
            others: environments.len() - 1,
        })
    }
}

impl Writer for DatagenWriter<'_> {
    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let place = self.placement(item);
        let dir = &place.camera_dir;
        let mut files = Vec::new();
        let kept = self.source_environment(item);
        let image_name = match source_image(item, image, ".png") {
            // From Datagen: the image keeps its name (and so its role:
            // `infrared_spectrum.png` stays infrared).
            Some((bytes, ext)) => {
                let kept_name = match (&kept, item.image.as_deref()) {
                    (Some(_), Some(path)) => path.rsplit('/').next(),
                    _ => None,
                };
                let name = match kept_name {
                    // Not a name the writer gives its own files.
                    Some(name) if ![ENVIRONMENT, MASK_PNG, ITEM_FILE].contains(&name) => {
                        name.to_string()
                    }
                    _ => format!("visible_spectrum_01{}", ext.to_ascii_lowercase()),
                };
                files.push(OutputFile::new(format!("{dir}/{name}"), bytes));
                name
            }
            _ => "visible_spectrum_01.png".to_string(),
        };
        let environment = match kept {
            Some(SourceEnvironment {
                version,
                mut first,
                others,
            }) => {
                if others > 0 {
                    out.warnings.push(Warning::new(
                        "images-left-out",
                        format!(
                            "item '{}': its {ENVIRONMENT} names {others} more image(s); only '{image_name}' is copied",
                            item.key
                        ),
                    ));
                }
                first.insert("image_name".into(), image_name.into());
                json!({"version": version, "environments": [first]})
            }
            None => json!({"version": "1.0.0", "environments": [{"image_name": image_name}]}),
        };
        files.push(OutputFile::new(
            format!("{dir}/{ENVIRONMENT}"),
            serde_json::to_string_pretty(&environment).expect("JSON to memory"),
        ));
        if place.needs_item_file {
            let record = json!({"key": item.key, "subset": item.subset});
            files.push(OutputFile::new(
                format!("{dir}/{ITEM_FILE}"),
                serde_json::to_string_pretty(&record).expect("JSON to memory"),
            ));
        }
        let Some(map) = map else {
            return Ok(Encoded {
                files,
                ..Encoded::default()
            });
        };

        let palette: Vec<[u8; 6]> = std::iter::once(rgb16_bytes([0, 0, 0]))
            .chain(
                map.segments()
                    .iter()
                    .map(|s| rgb16_bytes(self.palette[s.class as usize])),
            )
            .collect();
        let (w, h) = (map.width(), map.height());
        let mut present = vec![false; palette.len()];
        let png = encode_png_rows(w, h, PngLayout::Rgb16, self.compression, |y, row| {
            paint_row_marking(map.row(y), &palette, row, &mut present)
        });
        let mut shown: Vec<ClassId> = map
            .segments()
            .iter()
            .zip(&present[1..])
            .filter(|&(_, &shows)| shows)
            .map(|(s, _)| s.class)
            .collect();
        shown.sort_unstable();
        shown.dedup();
        files.push(OutputFile::new(format!("{dir}/{MASK_PNG}"), png));
        Ok(Encoded {
            files,
            record: Record {
                classes: shown,
                ..Record::default()
            },
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, _out: &mut Diagnostics) -> Result<()> {
        if written.is_empty() {
            // An empty folder: Datagen's SDK (and maskconv) cannot read it,
            // and the classes, kept in each datapoint, would vanish.
            return Err(Error::invalid_input(
                "no item to write: a Datagen dataset without datapoints cannot be read, and its classes live in each datapoint's metadata",
            ));
        }
        // Classes no written item shows are listed in every datapoint (as
        // Datagen lists occluded parts), so the class list survives.
        let mut unshown: BTreeSet<ClassId> = (1..=self.catalog.len() as ClassId).collect();
        // Per datapoint folder, the classes its cameras show, as a bit set.
        let words = self.catalog.len() / 64 + 1;
        let mut by_datapoint: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for record in written.records() {
            let (item, record) =
                record.map_err(|e| Error::output("the records of written items", e.to_string()))?;
            let shown = by_datapoint
                .entry(self.placement(item).datapoint_dir)
                .or_insert_with(|| vec![0; words]);
            for class in record.classes {
                shown[class as usize / 64] |= 1 << (class % 64);
                unshown.remove(&class);
            }
        }
        for (datapoint, shown) in by_datapoint {
            let mut tree = Tree::default();
            let listed = (1..=self.catalog.len() as ClassId)
                .filter(|&c| shown[c as usize / 64] >> (c % 64) & 1 == 1 || unshown.contains(&c));
            for class in listed {
                tree.insert(self.name(class), self.palette[class as usize]);
            }
            tree.insert(BACKGROUND, [0, 0, 0]);
            sink.write_file(
                &format!("{datapoint}/{METADATA}"),
                tree.to_json().as_bytes(),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Class, ClassKind};

    #[test]
    fn colours_are_kept_restored_or_generated_and_all_distinct() {
        let classes = vec![
            Class::new("human.head.hair", ClassKind::Stuff)
                .with_color(Color::Rgb8(Color::Rgb16([4384, 1699, 55003]).to_rgb8())),
            Class::new("car", ClassKind::Thing).with_color(Color::Rgb8([128, 0, 0])),
            Class::new("human.head.nose.left", ClassKind::Stuff),
            Class::new("road", ClassKind::Stuff),
            Class::new("black", ClassKind::Stuff).with_color(Color::Rgb8([0, 0, 0])),
            Class::new("twin", ClassKind::Stuff).with_color(Color::Rgb8([128, 0, 0])),
        ];
        let catalog = Catalog::new(classes).unwrap();
        let mut warnings = Vec::new();
        let palette = assign_colors(&catalog, &mut warnings);
        assert_eq!(
            palette[1],
            [4384, 1699, 55003],
            "Datagen's exact colour restored"
        );
        assert_eq!(palette[2], [128 * 257, 0, 0], "8-bit colour scaled");
        assert_eq!(
            palette[3],
            [25984, 22567, 16578],
            "Datagen's colour by name"
        );
        let distinct: HashSet<[u16; 3]> = palette.iter().copied().collect();
        assert_eq!(distinct.len(), palette.len());
        let narrow: HashSet<[u8; 3]> = palette.iter().map(|c| Color::Rgb16(*c).to_rgb8()).collect();
        assert_eq!(narrow.len(), palette.len(), "distinct at 8 bits too");
        assert!(palette[1..].iter().all(|c| *c != [0, 0, 0]));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn names_that_cannot_nest_are_refused() {
        let names: HashSet<&str> = ["human", "human.head", "car"].into_iter().collect();
        assert!(unwritable_name("human.head", &names).is_some());
        assert!(unwritable_name("car", &names).is_none());
        assert!(unwritable_name("background", &names).is_some());
        assert!(unwritable_name("version", &names).is_some());
        assert!(unwritable_name("background.sky", &names).is_some());
        assert!(unwritable_name("led.R", &names).is_some());
        assert!(unwritable_name("R.led", &names).is_none());
    }

    #[test]
    fn foreign_keys_get_free_datapoint_folders() {
        let items = vec![
            Item::new("datapoint_00001/camera"),
            Item::new("2007_000032"),
            Item::new("a/b"),
        ];
        let numbers = foreign_numbers(&items);
        assert_eq!(numbers.len(), 2);
        assert_eq!(numbers["2007_000032"], 2);
        assert_eq!(numbers["a/b"], 3);
    }
}
