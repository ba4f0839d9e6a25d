//! Each format's own tests: its fixtures read as its software reads them,
//! its writer's output, round trips through it, and its bad inputs.

mod coco;
mod coco_bad_input;
mod coco_panoptic;
mod cvat_fixtures;
mod cvat_roundtrip;
mod datagen;
mod datagen_bad_input;
mod nucleus;
mod nucleus_bad_input;
mod segments;
mod segments_vector;
mod semantic;
