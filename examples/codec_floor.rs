//! The codec floor of a conversion, as one process to count instructions of:
//! decode every input PNG and encode every output PNG with the `png` crate
//! alone (what `benches/harness.rs` times, without its timing).
//!
//! ```sh
//! cargo build --release --example codec_floor
//! valgrind --tool=callgrind target/release/examples/codec_floor INPUTS.txt OUTPUTS.txt
//! ```
//! `INPUTS.txt` lists the input masks, `OUTPUTS.txt` the masks a conversion
//! wrote, one path per line. The outputs are decoded first (setup, to have
//! their pixels): subtract that part (run with an empty INPUTS.txt and read
//! `decode_png`'s inclusive count) to get decode(inputs) + encode(outputs).

use maskconv::codec::{Compression, Palette, PngLayout, decode_png, encode_png};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, inputs, outputs] = &args[..] else {
        eprintln!("usage: codec_floor INPUTS.txt OUTPUTS.txt");
        std::process::exit(2);
    };
    let paths = |list: &str| -> Vec<String> {
        std::fs::read_to_string(list)
            .expect("a readable list")
            .lines()
            .map(String::from)
            .collect()
    };
    let read = |path: &String| std::fs::read(path).expect("a readable file");
    let inputs: Vec<Vec<u8>> = paths(inputs).iter().map(read).collect();
    let outputs: Vec<_> = paths(outputs)
        .iter()
        .map(|p| decode_png(&read(p), p, Palette::Indices).expect("a PNG"))
        .collect();
    for png in &inputs {
        std::hint::black_box(decode_png(png, "input", Palette::Expand).expect("a PNG"));
    }
    for image in &outputs {
        let layout = match (image.info.channels, image.info.bits) {
            (1, 8) => PngLayout::Gray8,
            (3, 8) => PngLayout::Rgb8,
            (4, 8) => PngLayout::Rgba8,
            (1, 16) => PngLayout::Gray16,
            (3, 16) => PngLayout::Rgb16,
            other => panic!("unexpected output layout {other:?}"),
        };
        let (w, h) = (image.info.width, image.info.height);
        std::hint::black_box(encode_png(w, h, layout, &image.data, Compression::Fast));
    }
}
