//! Label mapping (`--map`): rename, merge, drop and ignore classes, and give
//! them ids, once between reader and writer. The rules are applied to the
//! catalog; each decoded label map then has its segments' classes changed
//! (segments of one stuff class merge, things stay apart), its runs
//! rewritten only when segments merged or went.

mod instances;
mod rules;

pub use instances::{Instances, InstancesRow, Remade};
pub use rules::{IGNORE, Rule, Target, matches, parse_rule, rules_of};

use crate::error::{Error, Result};
use crate::formats::api::{Dataset, MapTransform};
use crate::model::{Catalog, Class, ClassId, ClassKind, ClassNumber, Item, LabelMap, Segment};
use crate::report::Warning;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What becomes of a class that no rule matches (`--unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unknown {
    /// It is an error, naming the classes.
    Error,
    /// It stays as it is (the default).
    #[default]
    Keep,
    /// Its pixels become unlabeled.
    Drop,
}

impl Unknown {
    /// `error`, `keep` or `drop`.
    pub fn parse(value: &str) -> std::result::Result<Unknown, String> {
        match value {
            "error" => Ok(Unknown::Error),
            "keep" => Ok(Unknown::Keep),
            "drop" => Ok(Unknown::Drop),
            _ => Err(format!("'{value}' is not error, keep or drop")),
        }
    }

    /// The word [`Unknown::parse`] reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            Unknown::Error => "error",
            Unknown::Keep => "keep",
            Unknown::Drop => "drop",
        }
    }
}

/// A label mapping: its rules, first match wins, and what becomes of the
/// classes none matches.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// In the order given.
    pub rules: Vec<Rule>,
    /// Classes no rule matches.
    pub unknown: Unknown,
    /// The `--map` values it was made from, files as absolute paths, so
    /// that [`Mapping::from_args`] makes it again elsewhere (a shard's merge).
    pub sources: Vec<String>,
}

/// One class a mapping changed, for reports: `to` is `None` for
/// unlabeled; `pixels` counts its pixels in the items decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MappingRow {
    /// The class's name in the input.
    pub from: String,
    /// What it became: a class name, `ignore`, or `None` (unlabeled).
    pub to: Option<String>,
    /// Its pixels in the items decoded so far.
    pub pixels: u64,
}

/// What applying a mapping did: the classes it changed, with their pixels
/// counted as the items are decoded.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// `(old class id, what it became)` of every changed class.
    changed: Vec<(ClassId, String, Option<String>)>,
    counts: Arc<Vec<AtomicU64>>,
    /// Rules that matched no class; ignore mapped to unlabeled.
    pub warnings: Vec<Warning>,
}

impl Applied {
    /// The changed classes, with their pixels so far.
    pub fn rows(&self) -> Vec<MappingRow> {
        self.changed
            .iter()
            .map(|(id, from, to)| MappingRow {
                from: from.clone(),
                to: to.clone(),
                pixels: self.counts[*id as usize].load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// What one old class becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Becomes {
    Kept,
    Class(String, Option<u32>),
    Unlabeled,
    Ignore,
}

impl Mapping {
    /// The rules of `--map` values (rules or files) with `--unknown`.
    pub fn from_args(values: &[String], unknown: Unknown) -> Result<Mapping> {
        let mut rules = Vec::new();
        let mut sources = Vec::with_capacity(values.len());
        for value in values {
            rules.extend(rules_of(value)?);
            let file = std::path::Path::new(value);
            sources.push(match file.is_file() {
                true => std::path::absolute(file).map_or_else(
                    |_| value.clone(),
                    |path| path.to_string_lossy().into_owned(),
                ),
                false => value.clone(),
            });
        }
        Ok(Mapping {
            rules,
            unknown,
            sources,
        })
    }

    /// What each class of `catalog` becomes, and the rules that matched none.
    fn decide(&self, catalog: &Catalog) -> Result<(Vec<Becomes>, Vec<&Rule>)> {
        let mut used = vec![false; self.rules.len()];
        let mut unmatched = Vec::new();
        let becomes = catalog
            .iter()
            .map(|(_, class)| {
                let rule = self
                    .rules
                    .iter()
                    .position(|r| matches(&r.pattern, &class.name));
                match rule {
                    Some(i) => {
                        used[i] = true;
                        match &self.rules[i].target {
                            Target::Class { name, id } => Becomes::Class(name.clone(), *id),
                            Target::Unlabeled => Becomes::Unlabeled,
                            Target::Ignore => Becomes::Ignore,
                        }
                    }
                    None => {
                        unmatched.push(class.name.as_str());
                        match self.unknown {
                            Unknown::Drop => Becomes::Unlabeled,
                            _ => Becomes::Kept,
                        }
                    }
                }
            })
            .collect();
        if self.unknown == Unknown::Error && !unmatched.is_empty() {
            let shown: Vec<String> = unmatched.iter().take(5).map(|n| format!("'{n}'")).collect();
            return Err(Error::usage(format!(
                "--unknown error: {} classes match no --map rule ({}{})",
                unmatched.len(),
                shown.join(", "),
                if unmatched.len() > 5 { ", …" } else { "" }
            )));
        }
        let unused = self
            .rules
            .iter()
            .zip(&used)
            .filter(|(_, used)| !**used)
            .map(|(r, _)| r)
            .collect();
        Ok((becomes, unused))
    }

    /// `dataset` with its classes mapped. `ignore_value`: the target can
    /// mark pixels ignore (else `ignore` is unlabeled, with a warning).
    pub fn apply(&self, dataset: Dataset, ignore_value: bool) -> Result<(Dataset, Applied)> {
        let (fates, unused) = self.decide(&dataset.catalog)?;
        let mut applied = Applied::default();
        for rule in unused {
            applied.warnings.push(Warning::new(
                "map-rule-unused",
                format!("{}: matches no class of the dataset", rule.origin),
            ));
        }
        let old = &dataset.catalog;
        let mut classes: Vec<Class> = Vec::new();
        let mut by_name: HashMap<String, ClassId> = HashMap::new();
        let mut class_of = vec![0 as ClassId; old.len() + 1];
        let mut ignored = Vec::new();
        for ((id, class), becomes) in old.iter().zip(&fates) {
            let (name, number) = match becomes {
                Becomes::Kept => (class.name.clone(), class.number),
                Becomes::Class(name, id) => (name.clone(), id.map(ClassNumber::Mapped)),
                Becomes::Unlabeled => {
                    applied.changed.push((id, class.name.clone(), None));
                    continue;
                }
                Becomes::Ignore if !ignore_value => {
                    ignored.push(class.name.as_str());
                    applied.changed.push((id, class.name.clone(), None));
                    continue;
                }
                Becomes::Ignore => (IGNORE.to_string(), Some(ClassNumber::Ignore)),
            };
            if let Some(&existing) = by_name.get(&name) {
                let ignore_class =
                    classes[existing as usize - 1].number == Some(ClassNumber::Ignore);
                if ignore_class != (*becomes == Becomes::Ignore) {
                    return Err(Error::usage(format!(
                        "a class named '{IGNORE}' and classes mapped to the ignore value would be one class; rename it (--map '{IGNORE}=other name')"
                    )));
                }
            }
            if *becomes != Becomes::Kept {
                applied
                    .changed
                    .push((id, class.name.clone(), Some(name.clone())));
            }
            let new_id = match by_name.get(&name) {
                Some(&existing) => {
                    let merged = &mut classes[existing as usize - 1];
                    if class.kind == ClassKind::Thing {
                        merged.kind = ClassKind::Thing;
                    }
                    match (merged.number, number) {
                        (Some(ClassNumber::Mapped(a)), Some(ClassNumber::Mapped(b))) if a != b => {
                            return Err(Error::usage(format!(
                                "--map gives class '{name}' two ids, {a} and {b}"
                            )));
                        }
                        (None | Some(ClassNumber::Source(_)), Some(ClassNumber::Mapped(_))) => {
                            merged.number = number;
                        }
                        _ => {}
                    }
                    existing
                }
                None => {
                    // A class keeps its own colour and attributes when it
                    // keeps its name; a new name takes its first source's.
                    let keeper = old
                        .find(&name)
                        .filter(|&o| keeps_name(&fates[o as usize - 1], &name));
                    let mut made = old.get(keeper.unwrap_or(id)).clone();
                    made.name = name.clone();
                    made.number = number.or(made.number);
                    made.kind = if class.kind == ClassKind::Thing {
                        ClassKind::Thing
                    } else {
                        made.kind
                    };
                    classes.push(made);
                    let new_id = classes.len() as ClassId;
                    by_name.insert(name, new_id);
                    new_id
                }
            };
            class_of[id as usize] = new_id;
        }
        if let Some(first) = ignored.first() {
            applied.warnings.push(Warning::new(
                "ignore-as-unlabeled",
                format!(
                    "the target has no ignore value apart from unlabeled pixels: {} classes mapped to ignore (e.g. '{first}') become unlabeled",
                    ignored.len()
                ),
            ));
        }
        let catalog = Catalog::new(classes).map_err(Error::usage)?;
        let kinds = std::iter::once(ClassKind::Stuff)
            .chain(catalog.classes().iter().map(|c| c.kind))
            .collect();
        applied.counts = Arc::new((0..=old.len()).map(|_| AtomicU64::new(0)).collect());
        let transform = ClassRemap {
            class_of,
            kinds,
            counts: applied.counts.clone(),
        };
        Ok((
            dataset.with_classes_mapped(catalog, Box::new(transform)),
            applied,
        ))
    }
}

/// Whether the old class named `name`, which `becomes` this, keeps its name.
fn keeps_name(becomes: &Becomes, name: &str) -> bool {
    match becomes {
        Becomes::Kept => true,
        Becomes::Class(to, _) => to == name,
        _ => false,
    }
}

/// Changes each label map's segments to the mapped classes.
struct ClassRemap {
    /// The new class of each old class (0: unlabeled).
    class_of: Vec<ClassId>,
    /// The kind of each new class (index 0 unused).
    kinds: Vec<ClassKind>,
    /// Pixels per old class.
    counts: Arc<Vec<AtomicU64>>,
}

impl MapTransform for ClassRemap {
    fn apply(&self, _item: &Item, map: LabelMap) -> Result<LabelMap> {
        let pixels = map.pixel_counts();
        for (segment, &n) in map.segments().iter().zip(&pixels[1..]) {
            self.counts[segment.class as usize].fetch_add(n, Ordering::Relaxed);
        }
        let mut new_id = vec![0u32; map.segments().len() + 1];
        let mut segments: Vec<Segment> = Vec::with_capacity(map.segments().len());
        let mut stuff: HashMap<ClassId, u32> = HashMap::new();
        // Per class: the instance numbers taken, and where to look for a free one.
        let mut instances: HashMap<ClassId, (HashSet<u32>, u32)> = HashMap::new();
        for (i, segment) in map.segments().iter().enumerate() {
            let class = self.class_of[segment.class as usize];
            if class == 0 {
                continue;
            }
            if self.kinds[class as usize] == ClassKind::Stuff {
                if let Some(&merged) = stuff.get(&class) {
                    new_id[i + 1] = merged;
                    continue;
                }
                stuff.insert(class, segments.len() as u32 + 1);
            }
            let mut kept = Segment {
                class,
                ..segment.clone()
            };
            if let Some(number) = segment.instance {
                let (used, free) = instances
                    .entry(class)
                    .or_insert_with(|| (HashSet::new(), 1));
                let number = match used.contains(&number) {
                    true => {
                        while used.contains(free) {
                            *free += 1;
                        }
                        *free
                    }
                    false => number,
                };
                used.insert(number);
                kept.instance = Some(number);
            }
            segments.push(kept);
            new_id[i + 1] = segments.len() as u32;
        }
        let unchanged = new_id.iter().enumerate().all(|(i, &id)| id as usize == i);
        match unchanged {
            true => Ok(map.with_segments(segments)),
            false => map
                .renumbered(&new_id, segments)
                .map_err(Error::invalid_input),
        }
    }
}
