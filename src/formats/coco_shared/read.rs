//! Reading what both COCO formats share: the annotation file streamed, an
//! image entry, the categories.

use super::{AnnotationFile, IMAGES_DIR};
use crate::error::{Error, Result};
use crate::formats::common::{file_extension, several_datasets, strip_bom};
use crate::formats::json_stream::{Held, MAX_HELD_BYTES, StreamError, stream_arrays};
use crate::io::Source;
use crate::model::{Catalog, Class, ClassKind, ClassNumber, Color, Item, path_to_key};
use crate::report::Warning;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::io::Read;

/// A dataset's annotation files, read.
pub struct FilesRead {
    /// How messages name each file, in path order.
    pub displays: Vec<String>,
    /// The categories every file lists.
    pub categories: Vec<Value>,
}

/// Reads every `annotations/<prefix><subset>.json` of `source` (of the
/// format `format`) with `read_file(index, file)`, which returns the file's
/// categories; they must be the same in every file (Datumaro and COCO write
/// them whole into each). No file, or files in several roots, is an error.
pub fn read_annotation_files(
    source: &dyn Source,
    prefix: &str,
    format: &str,
    read_file: &mut dyn FnMut(u32, &AnnotationFile) -> Result<Vec<Value>>,
) -> Result<FilesRead> {
    let files = super::annotation_files(source, prefix);
    let Some(first) = files.first() else {
        return Err(Error::input(
            source.name(),
            format!("holds no annotations/{prefix}<subset>.json"),
        ));
    };
    if files.iter().any(|f| f.root != first.root) {
        let mut roots: Vec<&str> = files.iter().map(|f| f.root).collect();
        roots.dedup();
        return Err(several_datasets(source, format, roots.into_iter()));
    }
    let displays: Vec<String> = files.iter().map(|f| source.display(f.path)).collect();
    let mut categories: Option<Vec<Value>> = None;
    for (index, file) in files.iter().enumerate() {
        let found = read_file(index as u32, file)?;
        match &categories {
            None => categories = Some(found),
            Some(listed) if *listed != found => {
                return Err(Error::input(
                    &displays[index],
                    format!(
                        "lists other categories than {}; the subsets of one dataset share their categories",
                        displays[0]
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(FilesRead {
        displays,
        categories: categories.expect("one file at least"),
    })
}

/// Streams the annotation file at `path`: `each(array, index, element)` for
/// every element of `images` (array 0) and `annotations` (array 1), in file
/// order; returns the rest of the file (an object with both arrays emptied).
/// `each`'s error is the first problem, placed in the file. `what` names
/// the format in messages ("a COCO panoptic file").
pub fn stream_annotation_file(
    source: &dyn Source,
    path: &str,
    what: &str,
    each: &mut dyn FnMut(usize, usize, Value) -> std::result::Result<(), String>,
) -> Result<Map<String, Value>> {
    let display = source.display(path);
    let mut problem: Option<String> = None;
    let mut element = |array: usize, index: usize, value: Value| -> std::result::Result<(), ()> {
        each(array, index, value).map_err(|what| problem = Some(what))
    };
    let mut rest = Value::Null;
    source.read_with(path, &mut |reader| {
        let mut head = Vec::new();
        (&mut *reader)
            .take(3)
            .read_to_end(&mut head)
            .map_err(|e| Error::input(&display, format!("cannot be read: {e}")))?;
        let text = std::io::Cursor::new(strip_bom(&head).to_vec()).chain(reader);
        rest = match stream_arrays(text, &[&["images"], &["annotations"]], &mut element) {
            Ok(rest) => rest,
            Err(StreamError::Element(())) => Value::Null,
            Err(StreamError::Syntax(e)) if e.is_io() => {
                return Err(Error::input(&display, format!("cannot be read: {e}")));
            }
            Err(StreamError::Syntax(e)) => {
                return Err(Error::input(&display, format!("is not valid JSON: {e}")));
            }
            Err(StreamError::TooLarge(held)) => {
                let what = match held {
                    Held::Element => "one image or annotation",
                    Held::Rest => "the file without its images and annotations",
                };
                return Err(Error::input(
                    &display,
                    format!(
                        "{what} is longer than {} MiB; a file this shaped is refused",
                        MAX_HELD_BYTES >> 20
                    ),
                ));
            }
        };
        Ok(())
    })?;
    if let Some(problem) = problem {
        return Err(Error::input(&display, problem));
    }
    let Value::Object(root) = rest else {
        return Err(Error::input(
            &display,
            format!("is not a JSON object; {what} is one"),
        ));
    };
    for key in ["images", "annotations", "categories"] {
        if !root.get(key).is_some_and(Value::is_array) {
            return Err(Error::input(
                &display,
                format!("has no '{key}' array; {what} has images, annotations and categories"),
            ));
        }
    }
    Ok(root)
}

/// One element of `images`: its id (as JSON text), `file_name` and size.
pub struct ImageEntry<'a> {
    /// `5` or `"a5"`.
    pub id: String,
    /// The image's file name, checked to stay inside the dataset.
    pub file_name: &'a str,
    /// `(width, height)`, when both are given.
    pub size: Option<(u32, u32)>,
}

impl<'a> ImageEntry<'a> {
    /// Parses `images[index]`; the error names it.
    pub fn parse(value: &'a Value, index: usize) -> std::result::Result<Self, String> {
        let place = format!("images[{index}]");
        let id = id_text(value.get("id"))
            .ok_or_else(|| format!("{place} has no integer or text 'id'"))?;
        let file_name = value
            .get("file_name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("{place} has no 'file_name'"))?;
        check_inside(file_name).map_err(|what| format!("{place}: {what}"))?;
        let size = match (
            value.get("width").and_then(Value::as_u64),
            value.get("height").and_then(Value::as_u64),
        ) {
            (Some(w), Some(h)) => u32::try_from(w).ok().zip(u32::try_from(h).ok()),
            _ => None,
        };
        Ok(ImageEntry {
            id,
            file_name,
            size,
        })
    }

    /// The item's key: the file name without extension.
    pub fn key(&self) -> String {
        let name = self.file_name;
        let stem = name.strip_suffix(file_extension(name, "")).unwrap_or(name);
        path_to_key(stem).into_owned()
    }

    /// The image file, when `source` has it at `images/<subset>/` or at
    /// COCO's own `<subset>/` (`val2017/`).
    pub fn find_image(&self, source: &dyn Source, file: &AnnotationFile) -> Option<String> {
        let name = self.file_name;
        [
            format!("{}{IMAGES_DIR}{}/{name}", file.root, file.subset),
            format!("{}{}/{name}", file.root, file.subset),
        ]
        .into_iter()
        .find(|path| source.contains(path))
    }
}

/// Refuses a `file_name` that would name a file outside the dataset's
/// folders (absolute, or with a `..` component).
pub fn check_inside(name: &str) -> std::result::Result<(), String> {
    let absolute = name.starts_with(['/', '\\']) || name.get(1..2) == Some(":");
    if absolute || name.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!(
            "file_name '{name}' leads outside the dataset's folders"
        ));
    }
    Ok(())
}

/// An image id: a JSON integer or text, as its JSON text (`5`, `"a5"`).
pub fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// One category as a class: `name`, `isthing` (a thing when missing),
/// `color`, the id as its number, the other keys as attributes.
pub fn class_of(category: &Value) -> std::result::Result<Class, String> {
    let fields = category.as_object().ok_or("is not an object")?;
    let id = fields
        .get("id")
        .and_then(Value::as_i64)
        .ok_or("has no integer 'id'")?;
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("(id {id}) has no 'name'"))?;
    let thing = match fields.get("isthing") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => match v.as_u64() {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(format!("('{name}') has an 'isthing' that is not 0 or 1")),
        },
    };
    let kind = if thing {
        ClassKind::Thing
    } else {
        ClassKind::Stuff
    };
    let mut class = Class::new(name, kind);
    match fields.get("color") {
        None | Some(Value::Null) => {}
        Some(color) => {
            let rgb: Option<Vec<u8>> = color.as_array().filter(|c| c.len() == 3).and_then(|c| {
                c.iter()
                    .map(|v| v.as_u64().and_then(|v| u8::try_from(v).ok()))
                    .collect()
            });
            let rgb = rgb.ok_or_else(|| {
                format!("('{name}') has a 'color' that is not [R, G, B] of 0..255")
            })?;
            class.color = Some(Color::Rgb8([rgb[0], rgb[1], rgb[2]]));
        }
    }
    class.number = u32::try_from(id)
        .ok()
        .filter(|&n| n >= 1)
        .map(ClassNumber::Source);
    for (key, value) in fields {
        if !["id", "name", "isthing", "color"].contains(&key.as_str()) {
            class.attributes.insert(key.clone(), value.clone());
        }
    }
    Ok(class)
}

/// The classes of `categories` (in file order) and each category id's
/// class id; the error names the category.
pub fn classes_of(
    categories: &[Value],
) -> std::result::Result<(Vec<Class>, HashMap<i64, u32>), String> {
    let mut classes: Vec<Class> = Vec::with_capacity(categories.len());
    let mut by_id: HashMap<i64, u32> = HashMap::new();
    for (index, category) in categories.iter().enumerate() {
        let class = class_of(category).map_err(|what| format!("categories[{index}] {what}"))?;
        let id = category["id"].as_i64().expect("checked by class_of");
        if by_id.insert(id, index as u32 + 1).is_some() {
            return Err(format!(
                "categories[{index}]: category id {id} is listed twice"
            ));
        }
        classes.push(class);
    }
    Ok((classes, by_id))
}

/// Makes things of the stuff classes with several segments in one image;
/// returns their ids. `class_of` maps the listed (provisional) classes.
pub fn promote_stuff_with_instances(
    items: &[Item],
    class_of: &[u32],
    classes: &mut [Class],
) -> Vec<u32> {
    let mut promoted = Vec::new();
    let mut seen = HashSet::new();
    for mask in items.iter().filter_map(|i| i.mask.as_ref()) {
        seen.clear();
        for entry in mask.listed.entries().iter().filter(|e| e.class != 0) {
            let class = class_of[entry.class as usize];
            let kind = &mut classes[class as usize - 1].kind;
            if !seen.insert(class) && *kind == ClassKind::Stuff {
                *kind = ClassKind::Thing;
                promoted.push(class);
            }
        }
    }
    promoted.sort_unstable();
    promoted
}

/// The warnings about categories both readers give: a category with id 0
/// (which annotations cannot name) and stuff read as things.
pub fn category_warnings(
    display: &str,
    catalog: &Catalog,
    by_id: &HashMap<i64, u32>,
    promoted: &[u32],
    what: &str,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Some(&zero) = by_id.get(&0) {
        warnings.push(Warning::new(
            "category-0",
            format!(
                "{display}: category '{}' has id 0, which {what} cannot name: category_id 0 is read as Datumaro's 'no label' (unlabeled)",
                catalog.get(zero).name
            ),
        ));
    }
    if let Some(first) = promoted.first() {
        warnings.push(Warning::new(
            "stuff-with-instances",
            format!(
                "{display}: {} categories with isthing 0 have several {what} in one image (e.g. '{}'; Datumaro writes isthing 0 for every category); they are read as things, so that their {what} stay apart",
                promoted.len(),
                catalog.get(*first).name
            ),
        ));
    }
    warnings
}
