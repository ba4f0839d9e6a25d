//! Building hostile inputs in the test, from small real datasets: the four
//! formats' fixtures as file maps, the containers they can come in (folder,
//! zip, tar.gz, a bare annotation file), and PNGs that are corrupt, huge or
//! fragmented (written by hand, a repeated compressed block, so that a
//! 16384² bomb costs the test milliseconds).

use crate::common::{fixture, read_tree};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A dataset as relative path → bytes.
pub type Files = BTreeMap<String, Vec<u8>>;

/// One format's small real dataset, and which of its files are the mask and
/// the annotation file the cases break.
pub struct Base {
    pub format: &'static str,
    pub files: Files,
    pub mask: &'static str,
    pub annotations: &'static str,
}

/// The four formats' fixtures.
pub fn bases() -> Vec<Base> {
    let base = |format, dir: &str, mask, annotations| Base {
        format,
        files: read_tree(&fixture(dir)),
        mask,
        annotations,
    };
    vec![
        // Class masks only (as CVAT may export them): the cases break one mask.
        Base {
            files: read_tree(&fixture("cvat/generated_cvat_export/dataset"))
                .into_iter()
                .filter(|(name, _)| !name.starts_with("SegmentationObject/"))
                .collect(),
            ..base(
                "cvat",
                "cvat/generated_cvat_export/dataset",
                "SegmentationClass/frame_000000.png",
                "labelmap.txt",
            )
        },
        base(
            "datagen",
            "datagen/three_real_datapoints",
            "datapoint_00001/camera/semantic_segmentation.png",
            "datapoint_00001/semantic_segmentation_metadata.json",
        ),
        base(
            "nucleus",
            "nucleus/sdk_annotations",
            "masks/street_a.png",
            "annotations.ndjson",
        ),
        base(
            "segments",
            "segments/sdk_release",
            "bitmaps/street.png",
            "release.json",
        ),
    ]
}

/// How a dataset reaches maskconv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Folder,
    Zip,
    TarGz,
}

pub const CONTAINERS: [Container; 3] = [Container::Folder, Container::Zip, Container::TarGz];

impl Container {
    pub fn tag(self) -> &'static str {
        match self {
            Container::Folder => "folder",
            Container::Zip => "zip",
            Container::TarGz => "tar.gz",
        }
    }
}

/// Writes `files` as `container` at `at` (`at` plus `.zip` / `.tar.gz`);
/// returns the INPUT path.
pub fn write_as(container: Container, files: &Files, at: &Path) -> PathBuf {
    match container {
        Container::Folder => {
            write_tree(files, at);
            at.to_path_buf()
        }
        Container::Zip => {
            let path = at.with_extension("zip");
            write_zip(&path, files, &[]);
            path
        }
        Container::TarGz => {
            let path = at.with_extension("tar.gz");
            let entries: Vec<TarEntry> = files
                .iter()
                .map(|(name, bytes)| TarEntry::File(name.clone(), bytes.clone()))
                .collect();
            write_tar_gz(&path, &entries);
            path
        }
    }
}

/// Writes `files` under folder `dir`.
pub fn write_tree(files: &Files, dir: &Path) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Writes a zip of `files` plus `symlinks` (name → target).
pub fn write_zip(path: &Path, files: &Files, symlinks: &[(&str, &str)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    for (name, target) in symlinks {
        zip.add_symlink(*name, *target, options).unwrap();
    }
    zip.finish().unwrap();
}

/// One entry of a tar archive.
pub enum TarEntry {
    File(String, Vec<u8>),
    Symlink(String, String),
    Fifo(String),
    /// A file whose name is written as is (`../x`, which `tar` refuses to write).
    RawName(String, Vec<u8>),
}

/// Writes a `.tar.gz` of `entries`.
pub fn write_tar_gz(path: &Path, entries: &[TarEntry]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match entry {
            TarEntry::File(name, bytes) => {
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, name, &bytes[..]).unwrap();
            }
            TarEntry::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, name, target).unwrap();
            }
            TarEntry::Fifo(name) => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_size(0);
                tar.append_data(&mut header, name, std::io::empty())
                    .unwrap();
            }
            TarEntry::RawName(name, bytes) => {
                let raw = &mut header.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
                header.set_size(bytes.len() as u64);
                header.set_cksum();
                tar.append(&header, &bytes[..]).unwrap();
            }
        }
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A file of `size` bytes that takes no disk space (a hole).
pub fn sparse_file(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

/// The colour type and bit depth in a PNG's header.
pub fn png_layout(png: &[u8]) -> (u8, u8) {
    (png[25], png[24])
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn samples_per_pixel(color: u8) -> usize {
    match color {
        0 | 3 => 1,
        4 => 2,
        2 => 3,
        _ => 4,
    }
}

/// A `width × height` PNG of colour type `color` and `depth` bits whose
/// every row is `row_pixels` repeated (one pixel's bytes each, alternating
/// when there are two), filter 0. `interlaced` only sets the Adam7 flag
/// (such a file is refused from its header; its data is never read). The zlib stream is one
/// compressed block of 16 rows repeated; its Adler-32 is not computed (a
/// bomb is refused before its end).
pub fn bomb_png(
    width: u32,
    height: u32,
    (color, depth): (u8, u8),
    interlaced: bool,
    row_pixels: &[&[u8]],
) -> Vec<u8> {
    let bytes_per_pixel = samples_per_pixel(color) * usize::from(depth.max(8) / 8);
    let mut row = vec![0u8];
    for x in 0..width as usize {
        let pixel = row_pixels[x % row_pixels.len()];
        assert_eq!(pixel.len(), bytes_per_pixel);
        row.extend_from_slice(pixel);
    }
    const ROWS: u32 = 16;
    assert_eq!(height % ROWS, 0);
    let block: Vec<u8> = row.repeat(ROWS as usize);
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let mut deflated = Vec::with_capacity(block.len() / 64 + 1024);
    compress
        .compress_vec(&block, &mut deflated, flate2::FlushCompress::Sync)
        .unwrap();
    assert_eq!(
        compress.total_in() as usize,
        block.len(),
        "one call compresses the block"
    );
    // zlib header, the block over and over, an empty final stored block, a
    // (wrong, never reached) Adler-32.
    let mut zlib = vec![0x78, 0xda];
    for _ in 0..height / ROWS {
        zlib.extend_from_slice(&deflated);
    }
    zlib.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, u8::from(interlaced)]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// `png` with its last IDAT's Adler-32 changed and the chunk's CRC made to
/// match: only the zlib checksum tells.
pub fn with_wrong_adler(png: &[u8]) -> Vec<u8> {
    let mut png = png.to_vec();
    let (mut at, mut last) = (8, None);
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            last = Some((at, len));
        }
        at += 12 + len;
    }
    let (start, len) = last.expect("an IDAT");
    png[start + 8 + len - 1] ^= 0x55;
    let crc = crc32fast::hash(&png[start + 4..start + 8 + len]);
    png[start + 8 + len..start + 12 + len].copy_from_slice(&crc.to_be_bytes());
    png
}

/// `png` with its IHDR's CRC broken.
pub fn with_bad_ihdr_crc(png: &[u8]) -> Vec<u8> {
    let mut png = png.to_vec();
    png[29] ^= 0xff;
    png
}

/// `png` with its header claiming `width × height` (CRC fixed).
pub fn with_size(png: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut png = png.to_vec();
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}
