//! The `.tar.gz` source's tests: listing, links, passes and the stash.

use super::*;

/// A .tar.gz of `count` files `f000`.. of `size` bytes each, in this order.
fn archive(dir: &Path, count: usize, size: usize) -> PathBuf {
    let path = dir.join(format!("a-{count}-{size}.tar.gz"));
    let file = File::create(&path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for i in 0..count {
        let mut header = tar::Header::new_gnu();
        header.set_size(size as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let data = vec![i as u8; size];
        builder
            .append_data(&mut header, format!("f{i:03}"), &data[..])
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    path
}

#[test]
fn reads_in_any_order_return_each_file_and_the_pass_count_is_predicted() {
    let dir = std::env::temp_dir().join(format!("maskconv-targz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = TarGzSource::open(&archive(&dir, 20, 1000)).unwrap();
    let forward: Vec<usize> = (0..20).collect();
    let backward: Vec<usize> = (0..20).rev().collect();
    assert_eq!(source.passes_for(&forward, 0, 100), 1);
    assert_eq!(source.passes_for(&backward, 1 << 20, 100), 1, "all stashed");
    assert_eq!(source.passes_for(&backward, 0, 100), 20, "nothing stashed");
    assert_eq!(source.passes_for(&backward, 5000, 100), 4, "5 files a pass");
    assert_eq!(
        source.passes_for(&[3, 3], 1 << 20, 100),
        2,
        "a file read is not kept"
    );
    assert_eq!(
        source.passes_for(&[9, 3], 999, 100),
        2,
        "larger than the stash"
    );
    let paths: Vec<String> = backward.iter().map(|i| format!("f{i:03}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_eq!(source.announce_reads(&paths), None);
    for (i, path) in backward.iter().zip(&paths) {
        assert_eq!(source.read(path).unwrap(), vec![*i as u8; 1000], "{path}");
    }
    assert_eq!(source.read("f007").unwrap(), vec![7u8; 1000], "read again");

    // A file nobody announced, asked for after the running pass skipped it.
    let sparse = TarGzSource::open(&archive(&dir, 20, 1000)).unwrap();
    assert_eq!(sparse.announce_reads(&["f005", "f019"]), None);
    assert_eq!(sparse.read("f005").unwrap(), vec![5u8; 1000]);
    // Let the background pass run past f010 (and hand over f019).
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(sparse.read("f010").unwrap(), vec![10u8; 1000]);
    assert_eq!(sparse.read("f019").unwrap(), vec![19u8; 1000]);

    // A stash of 5 files: reading backwards restarts the stream 3 times,
    // as predicted, and every read still gets its own bytes.
    let mut small = TarGzSource::open(&archive(&dir, 20, 1000)).unwrap();
    small.stash_budget = 5000;
    let message = small.announce_reads(&paths).expect("several passes");
    assert!(message.contains("decompressed 4 times"), "{message}");
    // Back and forth: the pass after a restart runs past files still
    // held from the pass before.
    let zigzag = [
        10usize, 7, 3, 12, 19, 0, 18, 1, 17, 2, 16, 4, 15, 5, 14, 6, 13, 8, 11, 9,
    ];
    for i in zigzag {
        let path = format!("f{i:03}");
        assert_eq!(small.read(&path).unwrap(), vec![i as u8; 1000], "{path}");
        let stream = small.stream.lock().unwrap();
        let held: usize = stream.stash.values().map(Vec::len).sum();
        assert_eq!(held as u64, stream.stash_bytes);
        assert!(stream.stash_bytes <= 5000);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn symlink_targets_resolve_inside_the_archive_only() {
    assert_eq!(
        resolve_relative("a/b/link", "c.png").as_deref(),
        Some("a/b/c.png")
    );
    assert_eq!(
        resolve_relative("a/b/link", "../c.png").as_deref(),
        Some("a/c.png")
    );
    assert_eq!(resolve_relative("a/link", "../../c.png"), None);
    assert_eq!(resolve_relative("a/link", "/etc/passwd"), None);
}
