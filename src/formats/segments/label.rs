//! One image's label attributes, as the SDK's label types hold them: a
//! bitmap's annotations (`ImageSegmentationLabelAttributes`, and the frames
//! of `ImageSequenceSegmentationLabelAttributes`), or vector annotations
//! (`ImageVectorLabelAttributes`, and the frames of vector sequences).

use serde_json::{Map, Value};

/// One annotation of a label: an object id (a bitmap's pixel value, or a
/// shape's) → category.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Annotation {
    pub id: u32,
    pub category_id: u64,
    /// In sequences: the object's id across frames (the SDK docs: always
    /// equal to `id`).
    pub track_id: Option<u32>,
    pub attributes: Map<String, Value>,
    /// A vector label's shape; `None` for a bitmap's annotation.
    pub shape: Option<VectorShape>,
}

/// The shape of a vector annotation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum VectorShape {
    /// `polygon`: its points, closed implicitly.
    Polygon(Vec<[f64; 2]>),
    /// `bbox`: `[[x0, y0], [x1, y1]]`, upper left and lower right corners.
    Box([f64; 4]),
    /// `polyline` or `point`, which cover no pixels: the type.
    WithoutArea(&'static str),
}

/// What one image's label (a sample's, or a sequence frame's) holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Label {
    /// A bitmap and its annotations.
    Bitmap {
        url: String,
        annotations: Vec<Annotation>,
    },
    /// Vector annotations (polygons, boxes, polylines, points), in drawing order.
    Vector { annotations: Vec<Annotation> },
    /// No mask, and why: `null`, `SKIPPED`, no bitmap URL; or "no
    /// annotations": neither a bitmap nor shapes (an empty vector label, when
    /// the task type is a vector one).
    Without(&'static str),
}

/// One image's label attributes (a single image's, or a sequence frame's):
/// a bitmap's, or vector annotations.
pub(super) fn label_of(label: &Map<String, Value>, place: &str) -> Result<Label, String> {
    let annotations = match label.get("annotations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, a)| {
                annotation_of(a).map_err(|what| format!("{place}.annotations[{i}]: {what}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(format!("{place}.annotations: is not a list")),
    };
    let mut ids = std::collections::HashSet::new();
    if let Some(twice) = annotations.iter().find(|a| !ids.insert(a.id)) {
        return Err(format!(
            "{place}.annotations: id {} is listed twice",
            twice.id
        ));
    }
    let vector = annotations.iter().filter(|a| a.shape.is_some()).count();
    if vector > 0 && vector < annotations.len() {
        return Err(format!(
            "{place}.annotations: {vector} of {} annotations have a type and points; a label is either a bitmap's or vector annotations",
            annotations.len()
        ));
    }
    let url = label
        .get("segmentation_bitmap")
        .and_then(|b| b.get("url"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty());
    match (url, vector > 0) {
        (Some(_), true) => Err(format!(
            "{place}: has a segmentation_bitmap and vector annotations; a label is one or the other"
        )),
        (Some(url), false) => Ok(Label::Bitmap {
            url: url.to_string(),
            annotations,
        }),
        (None, true) => Ok(Label::Vector { annotations }),
        (None, false) if label.contains_key("segmentation_bitmap") => {
            Ok(Label::Without("no bitmap"))
        }
        (None, false) => Ok(Label::Without("no annotations")),
    }
}

fn annotation_of(value: &Value) -> Result<Annotation, String> {
    let Value::Object(object) = value else {
        return Err("is not an object".into());
    };
    let object_id = |key: &str| match object.get(key).map(|v| (v, v.as_u64())) {
        Some((_, Some(id))) if (1..=u64::from(super::MAX_ID)).contains(&id) => Ok(Some(id as u32)),
        Some((v, _)) => Err(format!(
            "{key} {v} is not an object id 1..{} (a bitmap pixel holds 24 bits)",
            super::MAX_ID
        )),
        None => Ok(None),
    };
    let track_id = object_id("track_id")?;
    // Sequences' `id` is a legacy copy of `track_id`.
    let id = object_id("id")?.or(track_id).ok_or("has no id")?;
    let category_id = object
        .get("category_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("id {id} has no integer category_id"))?;
    let attributes = match object.get("attributes") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let shape = match object.get("type") {
        None | Some(Value::Null) => None,
        Some(kind) => {
            Some(shape_of(kind, object.get("points")).map_err(|what| format!("id {id}: {what}"))?)
        }
    };
    Ok(Annotation {
        id,
        category_id,
        track_id,
        attributes,
        shape,
    })
}

/// A vector annotation's shape from its `type` and `points`.
fn shape_of(kind: &Value, points: Option<&Value>) -> Result<VectorShape, String> {
    let points: Vec<[f64; 2]> = match points {
        Some(Value::Array(points)) => points
            .iter()
            .map(|p| match p.as_array() {
                Some(c) if c.len() >= 2 && c.iter().all(Value::is_number) => {
                    let coordinate = |v: &Value| v.as_f64().expect("a number");
                    Ok([coordinate(&c[0]), coordinate(&c[1])])
                }
                _ => Err(format!("point {p} is not [x, y]")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("has a type but no points list".into()),
    };
    match kind.as_str() {
        Some("polygon") if points.len() >= 3 => Ok(VectorShape::Polygon(points)),
        Some("polygon") => Ok(VectorShape::WithoutArea("polygon of fewer than 3 points")),
        Some("bbox") => match points[..] {
            [[x0, y0], [x1, y1]] => Ok(VectorShape::Box([x0, y0, x1 - x0, y1 - y0])),
            _ => Err(format!("a bbox has 2 points, not {}", points.len())),
        },
        Some("polyline") => Ok(VectorShape::WithoutArea("polyline")),
        Some("point") => Ok(VectorShape::WithoutArea("point")),
        _ => Err(format!(
            "type {kind} is not polygon, bbox, polyline or point"
        )),
    }
}
