//! Instances remade (`--instances`), once between reader and writer, after
//! any `--map`: `components[=4|8]` splits each class's pixels into
//! connected components, each an instance (for semantic-only sources such
//! as Datagen or index masks written to an instance format); `per-class`
//! merges the segments of each class into one. Counted per class while
//! items are decoded, for reports.

use crate::error::{Error, Result};
use crate::formats::api::{Dataset, MapTransform};
use crate::model::{Catalog, ClassId, ClassKind, Item, LabelMap, Segment};
use crate::remap::components::{Connectivity, split_components};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What `--instances` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// Every connected component of a class is an instance; every class
    /// becomes a thing.
    Components(Connectivity),
    /// One segment per class and image.
    PerClass,
}

impl Instances {
    /// `components` (8-connected), `components=4`, `components=8` or `per-class`.
    pub fn parse(value: &str) -> std::result::Result<Instances, String> {
        match value {
            "components" | "components=8" => Ok(Instances::Components(Connectivity::Eight)),
            "components=4" => Ok(Instances::Components(Connectivity::Four)),
            "per-class" => Ok(Instances::PerClass),
            _ => Err(format!(
                "'{value}' is not components, components=4, components=8 or per-class"
            )),
        }
    }

    /// The words [`Instances::parse`] reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            Instances::Components(Connectivity::Four) => "components=4",
            Instances::Components(Connectivity::Eight) => "components",
            Instances::PerClass => "per-class",
        }
    }

    /// `dataset` with its instances remade, and the counter of what was made.
    pub fn apply(self, dataset: Dataset) -> Result<(Dataset, Remade)> {
        let mut classes = dataset.catalog.classes().to_vec();
        if let Instances::Components(_) = self {
            for class in &mut classes {
                class.kind = ClassKind::Thing;
            }
        }
        let names: Vec<String> = classes.iter().map(|c| c.name.clone()).collect();
        let catalog = Catalog::new(classes).map_err(Error::usage)?;
        let counts: Arc<Vec<AtomicU64>> =
            Arc::new((0..=names.len()).map(|_| AtomicU64::new(0)).collect());
        let remade = Remade {
            names,
            counts: counts.clone(),
        };
        let transform = Remake { how: self, counts };
        Ok((
            dataset.with_classes_mapped(catalog, Box::new(transform)),
            remade,
        ))
    }
}

/// One class's instances after `--instances`, for reports: how many the
/// decoded items have (components: the components made; per-class: the
/// images the class is in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InstancesRow {
    /// The class.
    pub class: String,
    /// Its instances in the items decoded so far.
    pub instances: u64,
}

/// What `--instances` did, counted as items are decoded.
#[derive(Debug, Clone)]
pub struct Remade {
    names: Vec<String>,
    counts: Arc<Vec<AtomicU64>>,
}

impl Remade {
    /// The classes with instances, in class order.
    pub fn rows(&self) -> Vec<InstancesRow> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| InstancesRow {
                class: name.clone(),
                instances: self.counts[i + 1].load(Ordering::Relaxed),
            })
            .filter(|row| row.instances > 0)
            .collect()
    }
}

/// Remakes each decoded label map's instances.
struct Remake {
    how: Instances,
    /// Instances made per class.
    counts: Arc<Vec<AtomicU64>>,
}

impl MapTransform for Remake {
    fn apply(&self, _item: &Item, map: LabelMap) -> Result<LabelMap> {
        let remade = match self.how {
            Instances::Components(connectivity) => split_components(&map, connectivity),
            Instances::PerClass => one_per_class(&map)?,
        };
        let pixels = remade.pixel_counts();
        for (segment, &n) in remade.segments().iter().zip(&pixels[1..]) {
            if n > 0 {
                self.counts[segment.class as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(remade)
    }
}

/// `map` with the segments of each class merged into one (in the order of
/// their first segment, with its attributes); a thing's is instance 1.
fn one_per_class(map: &LabelMap) -> Result<LabelMap> {
    let mut new_id = vec![0u32; map.segments().len() + 1];
    let mut segments: Vec<Segment> = Vec::new();
    let mut by_class: HashMap<ClassId, u32> = HashMap::new();
    for (i, segment) in map.segments().iter().enumerate() {
        new_id[i + 1] = *by_class.entry(segment.class).or_insert_with(|| {
            let mut merged = segment.clone();
            merged.instance = segment.instance.map(|_| 1);
            segments.push(merged);
            segments.len() as u32
        });
    }
    if segments.len() == map.segments().len() {
        return Ok(map.clone());
    }
    map.renumbered(&new_id, segments)
        .map_err(Error::invalid_input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_merges_the_segments_of_each_class() {
        let map = LabelMap::new(
            4,
            1,
            vec![1, 2, 3, 0],
            vec![
                Segment::new(1, Some(4)),
                Segment::new(2, None),
                Segment::new(1, Some(9)),
            ],
        )
        .unwrap();
        let merged = one_per_class(&map).unwrap();
        assert_eq!(merged.ids(), [1, 2, 1, 0]);
        assert_eq!(
            merged.segments(),
            [Segment::new(1, Some(1)), Segment::new(2, None)]
        );
    }

    #[test]
    fn the_option_spells_connectivity_or_per_class() {
        assert_eq!(
            Instances::parse("components"),
            Ok(Instances::Components(Connectivity::Eight))
        );
        assert_eq!(
            Instances::parse("components=4"),
            Ok(Instances::Components(Connectivity::Four))
        );
        assert_eq!(Instances::parse("per-class"), Ok(Instances::PerClass));
        assert!(Instances::parse("components=6").is_err());
    }
}
