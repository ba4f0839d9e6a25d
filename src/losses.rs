//! Everything a conversion can lose, decided in one place: the loss codes
//! ([`LossCode`]), what a configured writer can hold ([`Capabilities`]), the
//! losses that follow from them before any pixel is read
//! ([`before_pixels`]) and per item ([`for_item`]), and the one `--strict`
//! check ([`LossLog::push`]). Writers push only the losses that are truly
//! theirs (a class no written item lists, an attribute a value collides
//! with) through [`Diagnostics`].

use crate::error::{Error, Result};
use crate::model::{Catalog, ClassKind, Item, LabelMap};
use crate::report::{NoteList, Warning};
use serde_json::Value;

/// Every loss the tool can report. The README's "Known losses" table lists
/// each of them (a test checks both ways).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossCode {
    /// The target has no instances: the instances of a class merge.
    InstancesMerged,
    /// The target has no subsets.
    SubsetsDropped,
    /// Class colours are rounded to the target's precision.
    ColourPrecision,
    /// The target stores no class colours.
    ColoursDropped,
    /// Class attributes the target cannot hold.
    ClassAttributes,
    /// Segment attributes the target cannot hold.
    SegmentAttributes,
    /// An image has more segments than the target holds: it is not written.
    TooManySegments,
    /// An item without mask, which the target cannot hold, is not written.
    ItemWithoutMask,
    /// A class no written item lists is not kept (no class table).
    ClassUnlisted,
    /// Reading: annotation ids the model does not keep.
    AnnotationIds,
    /// Reading: one class name with two colours keeps its first.
    ClassColourConflict,
    /// Reading: vector annotations without area (polylines, points).
    VectorWithoutArea,
    /// Reading: pixels in more than one shape go to the latest.
    OverlapResolved,
    /// Reading: stuff annotations' track ids in sequences.
    StuffTrackIds,
    /// Reading: annotations with a box but no mask (COCO without segmentation).
    BoxWithoutMask,
    /// Stuff classes left out (`--things-only`).
    StuffDropped,
    /// Polygons that do not give back an object's pixels (its holes fill).
    PolygonApproximation,
}

impl LossCode {
    /// Every code, in a stable order.
    pub const ALL: &'static [LossCode] = &[
        LossCode::InstancesMerged,
        LossCode::SubsetsDropped,
        LossCode::ColourPrecision,
        LossCode::ColoursDropped,
        LossCode::ClassAttributes,
        LossCode::SegmentAttributes,
        LossCode::TooManySegments,
        LossCode::ItemWithoutMask,
        LossCode::ClassUnlisted,
        LossCode::AnnotationIds,
        LossCode::ClassColourConflict,
        LossCode::VectorWithoutArea,
        LossCode::OverlapResolved,
        LossCode::StuffTrackIds,
        LossCode::BoxWithoutMask,
        LossCode::StuffDropped,
        LossCode::PolygonApproximation,
    ];

    /// The code as reports spell it (`too-many-segments`).
    pub fn as_str(self) -> &'static str {
        match self {
            LossCode::InstancesMerged => "instances-merged",
            LossCode::SubsetsDropped => "subsets-dropped",
            LossCode::ColourPrecision => "colour-precision",
            LossCode::ColoursDropped => "colours-dropped",
            LossCode::ClassAttributes => "class-attributes",
            LossCode::SegmentAttributes => "segment-attributes",
            LossCode::TooManySegments => "too-many-segments",
            LossCode::ItemWithoutMask => "item-without-mask",
            LossCode::ClassUnlisted => "class-unlisted",
            LossCode::AnnotationIds => "annotation-ids",
            LossCode::ClassColourConflict => "class-colour-conflict",
            LossCode::VectorWithoutArea => "vector-without-area",
            LossCode::OverlapResolved => "overlap-resolved",
            LossCode::StuffTrackIds => "stuff-track-ids",
            LossCode::BoxWithoutMask => "box-without-mask",
            LossCode::StuffDropped => "stuff-dropped",
            LossCode::PolygonApproximation => "polygon-approximation",
        }
    }
}

impl serde::Serialize for LossCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for LossCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        (LossCode::ALL.iter().copied())
            .find(|code| code.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown loss code '{text}'")))
    }
}

/// One loss: what was lost, in words naming the class or item concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// Which loss.
    pub code: LossCode,
    /// One line for people.
    pub message: String,
}

impl Loss {
    /// A loss of `code` saying `message`.
    pub fn new(code: LossCode, message: impl Into<String>) -> Self {
        Loss {
            code,
            message: message.into(),
        }
    }
}

/// Where readers and writers push what they find: losses and warnings.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// What could not be kept.
    pub losses: Vec<Loss>,
    /// Everything else worth knowing.
    pub warnings: Vec<Warning>,
}

impl Diagnostics {
    /// Records a loss.
    pub fn loss(&mut self, code: LossCode, message: impl Into<String>) {
        self.losses.push(Loss::new(code, message));
    }

    /// Records a warning.
    pub fn warn(&mut self, code: &'static str, message: impl Into<String>) {
        self.warnings.push(Warning::new(code, message));
    }

    /// Everything recorded, losses as warnings (for `inspect` and
    /// `validate`, which write nothing and so lose nothing).
    pub fn into_warnings(self) -> Vec<Warning> {
        let losses = self.losses.into_iter();
        let lost = losses.map(|loss| Warning::new(loss.code.as_str(), loss.message));
        self.warnings.into_iter().chain(lost).collect()
    }
}

/// Which attributes (of classes, or of segments) a format keeps.
#[derive(Clone, Copy)]
pub enum Keeps {
    /// Every attribute.
    All,
    /// None.
    Nothing,
    /// Those `keeps(name, value)` accepts; `what` says which, for messages.
    Some {
        /// Whether the attribute `name` with `value` is kept.
        keeps: fn(&str, &Value) -> bool,
        /// Which attributes are kept, in words.
        what: &'static str,
    },
}

impl Keeps {
    /// Whether the attribute `name` with `value` is kept.
    pub fn keeps(&self, name: &str, value: &Value) -> bool {
        match self {
            Keeps::All => true,
            Keeps::Nothing => false,
            Keeps::Some { keeps, .. } => keeps(name, value),
        }
    }

    /// `yes`, `no` or `some`, for `maskconv formats`.
    pub fn label(&self) -> &'static str {
        match self {
            Keeps::All => "yes",
            Keeps::Nothing => "no",
            Keeps::Some { .. } => "some",
        }
    }
}

impl std::fmt::Debug for Keeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keeps::All => f.write_str("All"),
            Keeps::Nothing => f.write_str("Nothing"),
            Keeps::Some { what, .. } => write!(f, "Some({what:?})"),
        }
    }
}

/// The most segments one image of a format holds, and why, in words.
#[derive(Debug, Clone, Copy)]
pub struct SegmentLimit {
    /// The most segments with pixels one image holds.
    pub max: u32,
    /// How many of them an image needs (see [`segments_with_pixels`]).
    pub needs: fn(&LabelMap) -> usize,
    /// What one segment takes: "object numbers".
    pub unit: &'static str,
    /// What holds them: "a CVAT SegmentationObject PNG holds at most 255 per image".
    pub why: &'static str,
    /// Appended to the error: another way out ("; --semantic writes one value per class").
    pub hint: &'static str,
}

/// How many segments of `map` have pixels: what most formats need numbers
/// for (segments without pixels can go unnumbered).
pub fn segments_with_pixels(map: &LabelMap) -> usize {
    map.pixel_counts()[1..].iter().filter(|&&n| n > 0).count()
}

/// What a written dataset of a format can hold — with the options given
/// (Nucleus `--semantic` holds no instances). The basis of every planned loss.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// Instances of a class stay distinct.
    pub instances: bool,
    /// The most segments one image holds (`None`: no limit below 2^32).
    pub max_segments: Option<SegmentLimit>,
    /// Precision of stored class colours: 8, 16, or 0 when classes have no colour.
    pub color_bits: u8,
    /// Items keep their subset (train/val/...).
    pub subsets: bool,
    /// Which class attributes survive.
    pub class_attributes: Keeps,
    /// Which per-segment attributes survive.
    pub segment_attributes: Keeps,
    /// The item's source image is copied along when it is inside the input.
    pub source_images: bool,
    /// An item without mask is written (as an image without annotations).
    pub items_without_mask: bool,
    /// Pixels can be marked "ignore", apart from unlabeled ones (an index
    /// mask's 255): the target of `--map old=ignore`.
    pub ignore_value: bool,
}

impl Capabilities {
    /// A format that holds nothing beyond classes per pixel: start a
    /// format's capabilities from it (`..Capabilities::NONE`).
    pub const NONE: Capabilities = Capabilities {
        instances: false,
        max_segments: None,
        color_bits: 0,
        subsets: false,
        class_attributes: Keeps::Nothing,
        segment_attributes: Keeps::Nothing,
        source_images: false,
        items_without_mask: false,
        ignore_value: false,
    };
}

/// The losses that follow from what `to` can hold, known before any pixel
/// is read: instances merged, subsets, colours, class attributes. `from`
/// is what the source format holds; `target` names `to` in messages.
pub fn before_pixels(
    catalog: &Catalog,
    items: &[Item],
    from: &Capabilities,
    to: &Capabilities,
    target: &str,
) -> Vec<Loss> {
    let mut losses = Vec::new();
    let things: Vec<&str> = catalog
        .iter()
        .filter(|(_, c)| c.kind == ClassKind::Thing)
        .map(|(_, c)| c.name.as_str())
        .collect();
    if !to.instances && from.instances && !things.is_empty() {
        losses.push(Loss::new(
            LossCode::InstancesMerged,
            format!(
                "{target} cannot hold instances: the instances of each class are merged into one region ({} classes with instances, e.g. '{}')",
                things.len(),
                things[0]
            ),
        ));
    }
    if !to.subsets
        && let Some(subset) = items.iter().find_map(|i| i.subset.as_deref())
    {
        losses.push(Loss::new(
            LossCode::SubsetsDropped,
            format!("{target} has no subsets: subset names (e.g. '{subset}') are dropped"),
        ));
    }
    let bits = to.color_bits;
    let finer: Vec<&str> = catalog
        .iter()
        .filter(|(_, c)| c.color.is_some_and(|col| bits != 0 && col.bits() > bits))
        .map(|(_, c)| c.name.as_str())
        .collect();
    if let Some(first) = finer.first() {
        losses.push(Loss::new(
            LossCode::ColourPrecision,
            format!(
                "{target} stores {bits}-bit class colours: {} class colours are rounded (e.g. '{first}'); classes stay distinct",
                finer.len()
            ),
        ));
    }
    let coloured = catalog.iter().filter(|(_, c)| c.color.is_some()).count();
    if bits == 0 && coloured > 0 {
        losses.push(Loss::new(
            LossCode::ColoursDropped,
            format!("{target} stores no class colours: {coloured} class colours are dropped"),
        ));
    }
    for (_, class) in catalog.iter() {
        for (name, value) in &class.attributes {
            if !to.class_attributes.keeps(name, value) {
                let why = match to.class_attributes {
                    Keeps::Some { what, .. } => what.to_string(),
                    _ => format!("{target} has no class attributes"),
                };
                losses.push(Loss::new(
                    LossCode::ClassAttributes,
                    format!(
                        "class '{}': attribute '{name}' is dropped: {why}",
                        class.name
                    ),
                ));
            }
        }
    }
    losses
}

/// What becomes of one item in a target that holds `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemVerdict {
    /// It is written, with these losses.
    Write(Vec<Loss>),
    /// It is not written, and that is the loss (no mask where one is needed).
    LeaveOut(Loss),
    /// It cannot be written: the run fails, or skips it under `--keep-going`.
    Refuse(Loss),
}

/// Decides what becomes of `item` (with mask `map`) in a target that holds
/// `to`, named `target` in messages: segments beyond the target's limit,
/// segment attributes it cannot hold, a mask it needs.
pub fn for_item(
    item: &Item,
    map: Option<&LabelMap>,
    to: &Capabilities,
    target: &str,
) -> ItemVerdict {
    let key = &item.key;
    let Some(map) = map else {
        if to.items_without_mask {
            return ItemVerdict::Write(Vec::new());
        }
        return ItemVerdict::LeaveOut(Loss::new(
            LossCode::ItemWithoutMask,
            format!(
                "item '{key}' has no mask, and {target} holds no item without one: it is not written"
            ),
        ));
    };
    let segments = map.segments();
    if let Some(limit) = to.max_segments
        && segments.len() > limit.max as usize
    {
        let shown = (limit.needs)(map);
        if shown > limit.max as usize {
            return ItemVerdict::Refuse(Loss::new(
                LossCode::TooManySegments,
                format!(
                    "item '{key}' ({target}): needs {shown} {} but {} (loss 'too-many-segments'); --keep-going skips such items{}",
                    limit.unit, limit.why, limit.hint
                ),
            ));
        }
    }
    let dropped = segments
        .iter()
        .flat_map(|s| &s.attributes)
        .find(|(name, value)| !to.segment_attributes.keeps(name, value));
    let mut losses = Vec::new();
    if let Some((name, _)) = dropped {
        let why = match to.segment_attributes {
            Keeps::Some { what, .. } => what.to_string(),
            _ => format!("{target} cannot hold segment attributes"),
        };
        losses.push(Loss::new(
            LossCode::SegmentAttributes,
            format!("item '{key}': segment attributes such as '{name}' are dropped: {why}"),
        ));
    }
    ItemVerdict::Write(losses)
}

/// The losses of one run, aggregated by code; with `--strict` the first one
/// is a failure.
#[derive(Debug, Default)]
pub struct LossLog {
    strict: bool,
    list: NoteList,
}

impl LossLog {
    /// A log that fails on the first loss when `strict`.
    pub fn new(strict: bool) -> Self {
        LossLog {
            strict,
            list: NoteList::default(),
        }
    }

    /// Records `loss`; under `--strict` it is the run's failure instead.
    pub fn push(&mut self, loss: Loss) -> Result<()> {
        self.allow(&loss)?;
        self.list.add(loss.code.as_str(), loss.message);
        Ok(())
    }

    /// Whether `loss` may happen: under `--strict` it is the run's failure.
    /// (A skipped item is listed as such, not recorded here.)
    pub fn allow(&self, loss: &Loss) -> Result<()> {
        match self.strict {
            false => Ok(()),
            true => Err(Error::loss(format!(
                "{} [loss '{}'; --strict forbids losses]",
                loss.message,
                loss.code.as_str()
            ))),
        }
    }

    /// Records several losses (see [`LossLog::push`]).
    pub fn extend(&mut self, losses: impl IntoIterator<Item = Loss>) -> Result<()> {
        losses.into_iter().try_for_each(|loss| self.push(loss))
    }

    /// The losses so far, aggregated by code.
    pub fn list(&self) -> &NoteList {
        &self.list
    }

    /// Adds losses noted elsewhere (a shard's items'), already allowed there.
    pub fn absorb(&mut self, notes: &[crate::report::SavedNotes]) {
        self.list.absorb_saved(notes);
    }

    /// The losses, aggregated by code.
    pub fn into_list(self) -> NoteList {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Class, Color, Segment};

    const HOLDS_ALL: Capabilities = Capabilities {
        instances: true,
        max_segments: None,
        color_bits: 16,
        subsets: true,
        class_attributes: Keeps::All,
        segment_attributes: Keeps::All,
        source_images: true,
        items_without_mask: true,
        ignore_value: true,
    };

    fn codes(losses: &[Loss]) -> Vec<&'static str> {
        losses.iter().map(|l| l.code.as_str()).collect()
    }

    #[test]
    fn losses_before_pixels_follow_from_what_the_target_holds() {
        let mut car = Class::new("car", ClassKind::Thing).with_color(Color::Rgb16([1, 2, 3]));
        car.attributes.insert("parts".into(), Value::from("wheel"));
        let catalog = Catalog::new(vec![car]).unwrap();
        let mut item = Item::new("a");
        item.subset = Some("train".into());
        let items = [item];
        let all = before_pixels(&catalog, &items, &HOLDS_ALL, &Capabilities::NONE, "x");
        assert_eq!(
            codes(&all),
            [
                "instances-merged",
                "subsets-dropped",
                "colours-dropped",
                "class-attributes"
            ]
        );
        let eight = Capabilities {
            color_bits: 8,
            ..HOLDS_ALL
        };
        let some = before_pixels(&catalog, &items, &HOLDS_ALL, &eight, "x");
        assert_eq!(codes(&some), ["colour-precision"]);
        assert!(before_pixels(&catalog, &items, &HOLDS_ALL, &HOLDS_ALL, "x").is_empty());
    }

    #[test]
    fn items_over_the_limit_are_refused_counting_only_segments_with_pixels() {
        let limit = Capabilities {
            max_segments: Some(SegmentLimit {
                max: 1,
                needs: segments_with_pixels,
                unit: "ids",
                why: "one",
                hint: "",
            }),
            ..HOLDS_ALL
        };
        let segments = vec![Segment::new(1, None), Segment::new(1, None)];
        let one_shown = LabelMap::new(2, 1, vec![1, 1], segments.clone()).unwrap();
        let item = Item::new("a");
        assert_eq!(
            for_item(&item, Some(&one_shown), &limit, "x"),
            ItemVerdict::Write(Vec::new())
        );
        let two_shown = LabelMap::new(2, 1, vec![1, 2], segments).unwrap();
        let ItemVerdict::Refuse(loss) = for_item(&item, Some(&two_shown), &limit, "x") else {
            panic!("refused")
        };
        assert_eq!(loss.code, LossCode::TooManySegments);
        assert!(matches!(
            for_item(&item, None, &Capabilities::NONE, "x"),
            ItemVerdict::LeaveOut(Loss {
                code: LossCode::ItemWithoutMask,
                ..
            })
        ));
    }

    #[test]
    fn strict_turns_the_first_loss_into_a_failure() {
        let mut log = LossLog::new(false);
        log.push(Loss::new(LossCode::ClassUnlisted, "a")).unwrap();
        assert_eq!(log.into_list().summaries()[0].code, "class-unlisted");
        let mut strict = LossLog::new(true);
        let err = strict
            .push(Loss::new(LossCode::ClassUnlisted, "a"))
            .unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Loss);
        assert!(err.to_string().contains("--strict"), "{err}");
    }
}
