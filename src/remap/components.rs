//! Connected components of each class's pixels, over the label map's row
//! runs (union-find of runs, never a pixel at a time): what `--instances
//! components` turns a semantic-only source's classes into instances with.

use crate::model::{ClassId, LabelMap, RunsBuilder, Segment};

/// Which neighbours connect two pixels of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// Left, right, above, below.
    Four,
    /// Also the diagonals.
    Eight,
}

/// Union-find over run indices, the smaller root winning (so a component's
/// root is its first run in row-major order).
fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let grand = parent[parent[i as usize] as usize];
        parent[i as usize] = grand;
        i = grand;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        parent[high as usize] = low;
    }
}

/// `map` with each class's pixels split into connected components, each a
/// segment of its own: instance numbers 1.. per class in row-major order
/// of their first pixel, with the attributes of the segment that first
/// pixel had. Segments of one class that touch become one.
pub fn split_components(map: &LabelMap, connectivity: Connectivity) -> LabelMap {
    let (w, h) = (map.width(), map.height());
    let class_of = |id: u32| -> ClassId {
        match id {
            0 => 0,
            id => map.segments()[id as usize - 1].class,
        }
    };
    // Every run, row by row: (start column, end column, class, segment id).
    let mut runs: Vec<(u32, u32, ClassId, u32)> = Vec::new();
    let mut row_starts = Vec::with_capacity(h as usize + 1);
    for y in 0..h as usize {
        row_starts.push(runs.len());
        let mut x = 0;
        for run in map.row(y) {
            runs.push((x, x + run.len, class_of(run.id), run.id));
            x += run.len;
        }
    }
    row_starts.push(runs.len());
    let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
    // Neighbours in a row: runs of two segments of one class.
    for y in 0..h as usize {
        for i in row_starts[y] + 1..row_starts[y + 1] {
            if runs[i].2 != 0 && runs[i].2 == runs[i - 1].2 {
                union(&mut parent, i as u32 - 1, i as u32);
            }
        }
    }
    let reach = u32::from(connectivity == Connectivity::Eight);
    for y in 1..h as usize {
        let (above, here) = (
            row_starts[y - 1]..row_starts[y],
            row_starts[y]..row_starts[y + 1],
        );
        let mut a = above.start;
        for b in here {
            let (start, end, class, _) = runs[b];
            if class == 0 {
                continue;
            }
            // Runs above that touch [start - reach, end + reach).
            while a < above.end && runs[a].1 + reach <= start {
                a += 1;
            }
            let mut k = a;
            while k < above.end && runs[k].0 < end + reach {
                if runs[k].2 == class {
                    union(&mut parent, k as u32, b as u32);
                }
                k += 1;
            }
        }
    }
    // A segment per component, in row-major order of its first run.
    let mut segment_of_root = vec![0u32; runs.len()];
    let mut segments: Vec<Segment> = Vec::new();
    let mut next_instance: std::collections::HashMap<ClassId, u32> = Default::default();
    let mut builder = RunsBuilder::new(w.max(1));
    for (i, &(start, end, class, id)) in runs.iter().enumerate() {
        let new_id = match class {
            0 => 0,
            _ => {
                let root = find(&mut parent, i as u32) as usize;
                if segment_of_root[root] == 0 {
                    let number = next_instance.entry(class).or_insert(0);
                    *number += 1;
                    let mut segment = map.segments()[id as usize - 1].clone();
                    segment.instance = Some(*number);
                    segments.push(segment);
                    segment_of_root[root] = segments.len() as u32;
                }
                segment_of_root[root]
            }
        };
        builder.push_run(new_id, (end - start) as usize);
    }
    LabelMap::from_runs(w, h, builder, segments).expect("as many rows and segments as made")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Components by flood fill, pixel by pixel: the reference.
    fn flooded(ids: &[u32], classes: &[ClassId], w: usize, h: usize, eight: bool) -> Vec<usize> {
        let class = |i: usize| {
            if ids[i] == 0 {
                0
            } else {
                classes[ids[i] as usize - 1]
            }
        };
        let mut label = vec![usize::MAX; ids.len()];
        let mut next = 0;
        for start in 0..ids.len() {
            if class(start) == 0 || label[start] != usize::MAX {
                continue;
            }
            let mut stack = vec![start];
            label[start] = next;
            while let Some(p) = stack.pop() {
                let (x, y) = ((p % w) as i64, (p / w) as i64);
                for (dx, dy) in [
                    (-1, 0),
                    (1, 0),
                    (0, -1),
                    (0, 1),
                    (-1, -1),
                    (1, -1),
                    (-1, 1),
                    (1, 1),
                ]
                .into_iter()
                .take(if eight { 8 } else { 4 })
                {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let q = ny as usize * w + nx as usize;
                    if label[q] == usize::MAX && class(q) == class(p) {
                        label[q] = next;
                        stack.push(q);
                    }
                }
            }
            next += 1;
        }
        label
    }

    #[test]
    fn components_equal_a_flood_fill_at_both_connectivities() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..400 {
            let (w, h) = (1 + next(10) as usize, 1 + next(10) as usize);
            let segments = 1 + next(3) as u32;
            let classes: Vec<ClassId> = (0..segments).map(|_| 1 + next(2) as u32).collect();
            let ids: Vec<u32> = (0..w * h)
                .map(|_| next(u64::from(segments) + 1) as u32)
                .collect();
            let source = LabelMap::new(
                w as u32,
                h as u32,
                ids.clone(),
                classes.iter().map(|&c| Segment::new(c, None)).collect(),
            )
            .unwrap();
            for connectivity in [Connectivity::Four, Connectivity::Eight] {
                let split = split_components(&source, connectivity);
                let expected = flooded(&ids, &classes, w, h, connectivity == Connectivity::Eight);
                let got = split.ids();
                // The same partition, with the same classes.
                for p in 0..ids.len() {
                    for q in 0..ids.len() {
                        let same = expected[p] == expected[q];
                        assert_eq!(
                            got[p] == got[q],
                            same || (ids[p] == 0 && ids[q] == 0),
                            "case {case}"
                        );
                    }
                    let class = split.segment(got[p]).map(|s| s.class);
                    let want = (ids[p] != 0).then(|| classes[ids[p] as usize - 1]);
                    assert_eq!(class, want, "case {case}");
                }
            }
        }
    }

    #[test]
    fn diagonal_neighbours_connect_only_at_eight() {
        // Class 1 at (0, 0) and (1, 1).
        let map = LabelMap::new(2, 2, vec![1, 0, 0, 1], vec![Segment::new(1, None)]).unwrap();
        let four = split_components(&map, Connectivity::Four);
        assert_eq!(four.segments().len(), 2);
        assert_eq!(four.segments()[1].instance, Some(2));
        assert_eq!(
            split_components(&map, Connectivity::Eight).segments().len(),
            1
        );
    }
}
