use super::*;

/// `rleFrPoly` step by step, as its C walks every point of every edge: the
/// reference the column-by-column version must equal.
fn walked(xy: &[[f64; 2]], h: u32, w: u32) -> Vec<u32> {
    let k = xy.len();
    let mut x: Vec<i32> = xy.iter().map(|p| (SCALE * p[0] + 0.5) as i32).collect();
    let mut y: Vec<i32> = xy.iter().map(|p| (SCALE * p[1] + 0.5) as i32).collect();
    x.push(x[0]);
    y.push(y[0]);
    let (mut u, mut v) = (Vec::new(), Vec::new());
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let (dx, dy) = ((xe - xs).abs(), (ys - ye).abs());
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        let s = match dx >= dy {
            true => f64::from(ye - ys) / f64::from(dx),
            false => f64::from(xe - xs) / f64::from(dy),
        };
        if dx >= dy {
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push((f64::from(ys) + s * f64::from(t) + 0.5) as i32);
            }
        } else {
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push((f64::from(xs) + s * f64::from(t) + 0.5) as i32);
            }
        }
    }
    let mut a = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = f64::from(if u[j] < u[j - 1] { u[j] } else { u[j] - 1 });
        let xd = (xd + 0.5) / SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > f64::from(w) - 1.0 {
            continue;
        }
        let yd = f64::from(v[j].min(v[j - 1]));
        let yd = ((yd + 0.5) / SCALE - 0.5).clamp(0.0, f64::from(h)).ceil();
        a.push(xd as u32 * h + yd as u32);
    }
    a.push(h * w);
    a.sort_unstable();
    let mut p = 0;
    for value in a.iter_mut() {
        let t = *value;
        *value -= p;
        p = t;
    }
    let mut b = vec![a[0]];
    let mut j = 1;
    while j < a.len() {
        if a[j] > 0 {
            b.push(a[j]);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                *b.last_mut().unwrap() += a[j];
                j += 1;
            }
        }
    }
    b
}

/// A small deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..hi`.
    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn decode(rle: &Rle) -> Vec<bool> {
    let mut pixels = Vec::new();
    for (i, &n) in rle.counts.iter().enumerate() {
        pixels.extend(std::iter::repeat_n(i % 2 == 1, n as usize));
    }
    pixels
}

#[test]
fn column_crossings_equal_pycocotools_walk_on_random_polygons() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for case in 0..4000 {
        let (h, w) = (1 + random.next() % 40, 1 + random.next() % 40);
        let (h, w) = (h as u32, w as u32);
        let points = 1 + random.next() as usize % 9;
        // Some inside, some off the image, some sub-pixel, some far.
        let spread = [1.0, 2.0 * f64::from(w.max(h)), 200.0][case % 3];
        let centre = random.float(-10.0, 50.0);
        let polygon: Vec<[f64; 2]> = (0..points)
            .map(|_| {
                let mut p = [
                    centre + random.float(-spread, spread),
                    centre + random.float(-spread, spread),
                ];
                if case % 7 == 0 {
                    // Points on the grid and on half pixels: the edge cases of rounding.
                    p = [(p[0] * 2.0).round() / 2.0, (p[1] * 2.0).round() / 2.0];
                }
                p
            })
            .collect();
        let rle = rle_from_polygon(&polygon, h, w).unwrap();
        assert_eq!(rle.counts, walked(&polygon, h, w), "{polygon:?} on {w}×{h}");
        assert_eq!(
            rle.counts.iter().map(|&c| u64::from(c)).sum::<u64>(),
            u64::from(h * w)
        );
    }
}

#[test]
fn a_square_covers_the_pixels_whose_centres_it_holds() {
    // pycocotools.mask.frPyObjects([[1, 1, 1, 3, 3, 3, 3, 1]], 4, 5): columns
    // 1 and 2 hold rows 1 and 2 (counts [5, 2, 2, 2, 9]).
    let rle = rle_from_polygon(&[[1.0, 1.0], [1.0, 3.0], [3.0, 3.0], [3.0, 1.0]], 4, 5).unwrap();
    assert_eq!(rle.counts, vec![5, 2, 2, 2, 9]);
    let by_box = rle_from_box(1.0, 1.0, 2.0, 2.0, 4, 5).unwrap();
    assert_eq!(by_box, rle);
    let pixels = decode(&rle);
    assert!(pixels[4 + 1] && pixels[4 + 2] && pixels[2 * 4 + 1] && pixels[2 * 4 + 2]);
    assert_eq!(pixels.iter().filter(|&&p| p).count(), 4);
}

#[test]
fn polygons_off_the_image_or_without_points_are_empty() {
    let off = rle_from_polygon(&[[-9.0, -9.0], [-9.0, -5.0], [-5.0, -5.0]], 3, 3).unwrap();
    assert_eq!(off.counts, vec![9]);
    let none = rle_from_polygon(&[], 3, 3).unwrap();
    assert_eq!(none.counts, vec![9]);
}

#[test]
fn far_points_and_fragmented_outlines_are_refused() {
    let far = rle_from_polygon(&[[0.0, 0.0], [2e6, 0.0], [0.0, 1.0]], 4, 4);
    assert!(matches!(far, Err(PolygonError::FarOutside { .. })));
    // A zigzag across a wide image, many times: every edge crosses every column.
    let zigzag: Vec<[f64; 2]> = (0..300)
        .map(|i| [if i % 2 == 0 { 0.0 } else { 65535.0 }, i as f64])
        .collect();
    let fragmented = rle_from_polygon(&zigzag, 300, 65536);
    assert_eq!(fragmented, Err(PolygonError::TooFragmented));
}

#[test]
fn a_far_reaching_edge_costs_its_columns_not_its_length() {
    // An edge a million pixels long across a 4×4 image: 4 crossings, not 5·10⁶ steps.
    let rle = rle_from_polygon(&[[-1e6, 1.0], [1e6, 1.0], [1e6, 3.0], [-1e6, 3.0]], 4, 4).unwrap();
    assert_eq!(decode(&rle).iter().filter(|&&p| p).count(), 8);
}

#[test]
fn union_is_rle_merge() {
    let a = rle_from_box(0.0, 0.0, 2.0, 2.0, 4, 4).unwrap();
    let b = rle_from_box(1.0, 1.0, 2.0, 2.0, 4, 4).unwrap();
    let both = union(&[a.clone(), b.clone()]);
    let expected: Vec<bool> = decode(&a)
        .iter()
        .zip(decode(&b))
        .map(|(&p, q)| p || q)
        .collect();
    assert_eq!(decode(&both), expected);
    assert_eq!(both.counts.iter().sum::<u32>(), 16);
    assert_eq!(union(std::slice::from_ref(&a)), a);
    assert_eq!(union(&[]).counts, Vec::<u32>::new());
}

#[test]
fn the_coco_string_is_pycocotools_rle_to_string() {
    // pycocotools.mask.frPyObjects([[1, 1, 1, 3, 3, 3, 3, 1]], 4, 5)['counts'].
    let rle = rle_from_polygon(&[[1.0, 1.0], [1.0, 3.0], [3.0, 3.0], [3.0, 1.0]], 4, 5).unwrap();
    assert_eq!(rle.to_coco_string(), "52207");
    // Large counts and negative differences take several characters.
    let wide = Rle {
        height: 100,
        width: 100,
        counts: vec![5000, 30, 4000, 970],
    };
    assert_eq!(wide.to_coco_string(), "Xl4n0Pm3\\m0");
}

#[test]
fn later_masks_cover_earlier_ones_and_the_pixels_taken_are_counted() {
    let (h, w) = (5u32, 7u32);
    let a = rle_from_box(0.0, 0.0, 4.0, 3.0, h, w).unwrap();
    let b = rle_from_box(2.0, 1.0, 4.0, 4.0, h, w).unwrap();
    let painted = paint(&[(1, &a), (2, &b)], h, w).unwrap();
    let ids = painted.runs.ids();
    let (pa, pb) = (decode(&a), decode(&b));
    for y in 0..h as usize {
        for x in 0..w as usize {
            let column_major = x * h as usize + y;
            let expected = if pb[column_major] {
                2
            } else if pa[column_major] {
                1
            } else {
                0
            };
            assert_eq!(ids[y * w as usize + x], expected, "pixel {x}, {y}");
        }
    }
    let both = pa.iter().zip(&pb).filter(|&(&p, &q)| p && q).count();
    assert_eq!(painted.overlapped, both as u64);
    assert!(both > 0);
    // The same segment twice takes nothing from itself.
    assert_eq!(paint(&[(1, &a), (1, &b)], h, w).unwrap().overlapped, 0);
}

#[test]
fn a_tall_image_is_painted_in_bands_to_the_same_pixels() {
    // 8 columns, more rows than one band holds: bands must join seamlessly.
    let (h, w) = (1_000_000u32, 8u32);
    let mask = rle_from_polygon(&[[0.5, 10.0], [7.5, 900_000.0], [0.0, 999_999.0]], h, w).unwrap();
    let painted = paint(&[(1, &mask)], h, w).unwrap();
    assert_eq!(painted.runs.rows(), h as usize);
    let ids = painted.runs.ids();
    let pixels = decode(&mask);
    let differ = (0..(h * w) as usize)
        .filter(|&i| (ids[i] == 1) != pixels[(i % 8) * h as usize + i / 8])
        .count();
    assert_eq!(differ, 0);
    assert!(ids.iter().filter(|&&id| id == 1).count() > 1_000_000);
}

#[test]
fn ids_beyond_8_and_16_bits_paint_on_wider_canvases() {
    let (h, w) = (6u32, 5u32);
    let a = rle_from_box(0.0, 0.0, 3.0, 4.0, h, w).unwrap();
    let b = rle_from_box(2.0, 1.0, 3.0, 5.0, h, w).unwrap();
    let narrow = paint(&[(1, &a), (2, &b)], h, w).unwrap();
    for (low, high) in [(255, 256), (70_000, 16_777_215)] {
        let wide = paint(&[(low, &a), (high, &b)], h, w).unwrap();
        let relabel = |id: u32| match id {
            1 => low,
            2 => high,
            other => other,
        };
        let expected: Vec<u32> = narrow.runs.ids().into_iter().map(relabel).collect();
        assert_eq!(wide.runs.ids(), expected);
        assert_eq!(wide.overlapped, narrow.overlapped);
    }
}

#[test]
fn coco_strings_read_back_to_their_counts_and_bad_ones_are_refused() {
    let mut seed = 7u64;
    for _ in 0..200 {
        let mut counts = Vec::new();
        let mut total = 0u64;
        for i in 0..(seed % 12 + 1) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let count = ((seed >> 33) % 5000) as u32 + u32::from(i > 0);
            counts.push(count);
            total += u64::from(count);
        }
        let rle = Rle {
            height: 1,
            width: total as u32,
            counts,
        };
        let text = rle.to_coco_string();
        assert_eq!(Rle::from_coco_string(&text, 1, total as u32), Ok(rle));
    }
    // From pycocotools: a 3×4 mask and the all-ones 2×2 mask.
    let mask = Rle::from_coco_string("3230O", 3, 4).unwrap();
    assert_eq!(mask.counts, [3, 2, 3, 2, 2]);
    assert_eq!(Rle::from_coco_string("04", 2, 2).unwrap().counts, [0, 4]);
    let refused = |text: &str, h, w| Rle::from_coco_string(text, h, w).unwrap_err();
    assert!(refused("3230", 3, 4).contains("sum to 10"), "short");
    assert!(refused("3230O~", 3, 4).contains("'~'"));
    assert!(refused("3230o", 3, 4).contains("middle of a count"));
    assert!(refused("0O", 3, 4).contains("outside 0..2^32"), "negative");
    assert!(
        Rle::checked(vec![2, 30, 5], 4, 5).is_err(),
        "pycocotools' area 30"
    );
    assert_eq!(Rle::checked(vec![], 0, 0).unwrap().counts, [0]);
}
