//! Broken and hostile masks, in each format's own layout, in every container.

use super::build::{
    CONTAINERS, bases, bomb_png, png_layout, with_bad_ihdr_crc, with_size, with_wrong_adler,
    write_as,
};
use super::{Case, run_all};
use crate::common::TempDir;

/// A mutation of one mask, and what the error must say.
struct Breakage {
    tag: &'static str,
    make: fn(&[u8]) -> Vec<u8>,
    needles: &'static [&'static str],
    bomb: bool,
}

/// The two most frequent pixel values of a (valid) mask, as bytes: both
/// mean something in its dataset, and differ, so alternating them makes a
/// run per pixel.
fn two_pixels(png: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut data = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut data).unwrap();
    let size = frame.buffer_size() / (frame.width * frame.height) as usize;
    let mut counts: std::collections::HashMap<&[u8], usize> = Default::default();
    for pixel in data[..frame.buffer_size()].chunks(size) {
        *counts.entry(pixel).or_default() += 1;
    }
    let mut common: Vec<(&[u8], usize)> = counts.into_iter().collect();
    common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    (common[0].0.to_vec(), common[1].0.to_vec())
}

const BREAKAGES: [Breakage; 7] = [
    Breakage {
        tag: "truncated",
        make: |png| png[..png.len() * 2 / 3].to_vec(),
        needles: &["PNG"],
        bomb: false,
    },
    Breakage {
        tag: "wrong-adler32",
        make: with_wrong_adler,
        needles: &["Adler-32 checksum (corrupt file)"],
        bomb: false,
    },
    Breakage {
        tag: "bad-ihdr-crc",
        make: with_bad_ihdr_crc,
        needles: &["the CRC of its IHDR chunk does not match"],
        bomb: false,
    },
    Breakage {
        tag: "huge-header",
        make: |png| with_size(png, 20000, 20000),
        needles: &["claims 20000x20000 pixels", "decompression bomb"],
        bomb: true,
    },
    Breakage {
        tag: "wide-header",
        make: |png| with_size(png, 1 << 28, 1),
        needles: &["claims 268435456x1 pixels", "more than 65536 on a side"],
        bomb: true,
    },
    Breakage {
        tag: "interlaced-16384",
        make: |png| {
            let (a, _) = two_pixels(png);
            bomb_png(16384, 16384, png_layout(png), true, &[&a])
        },
        needles: &["interlaced PNG of 16384x16384", "save it non-interlaced"],
        bomb: true,
    },
    Breakage {
        tag: "fragmented-16384",
        make: |png| {
            let (a, b) = two_pixels(png);
            bomb_png(16384, 16384, png_layout(png), false, &[&a, &b])
        },
        needles: &["too fragmented"],
        bomb: true,
    },
];

/// Every breakage of every format's mask, in every container: 84 cases.
#[test]
fn broken_and_hostile_masks_fail_cleanly_in_every_format_and_container() {
    let work = TempDir::new("bad-masks");
    let mut cases = Vec::new();
    for base in bases() {
        for breakage in &BREAKAGES {
            let mut files = base.files.clone();
            let broken = (breakage.make)(&files[base.mask]);
            files.insert(base.mask.to_string(), broken);
            for container in CONTAINERS {
                let name = format!("{}-{}-{}", base.format, breakage.tag, container.tag());
                let input = write_as(container, &files, &work.join(&name));
                let mut needles = breakage.needles.to_vec();
                needles.push(base.mask);
                let to = if base.format == "cvat" {
                    "nucleus"
                } else {
                    "cvat"
                };
                let case = Case::new(&name, input, to, &needles);
                cases.push(if breakage.bomb { case.bomb() } else { case });
            }
        }
    }
    assert_eq!(cases.len(), 84);
    run_all(cases, &work);
}
