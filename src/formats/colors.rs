//! Colours several formats share: the Pascal VOC colormap (CVAT's object
//! colours, and the first colours handed out to classes without one), and
//! class colours that stay distinct at 8 bits, for writers of 8-bit colour
//! formats (CVAT's labelmap, Segments.ai's categories).

use crate::model::{Catalog, ClassId, Color};
use crate::report::Warning;
use std::collections::{HashMap, HashSet};

const BLACK: [u8; 3] = [0, 0, 0];

/// Pascal VOC colormap entry `index` (Datumaro's `generate_colormap`): the
/// bits of the index spread over R, G, B from the most significant bit down.
pub fn voc_color(index: u8) -> [u8; 3] {
    let mut rgb = [0u8; 3];
    let mut bits = u32::from(index);
    for shift in (0..8).rev() {
        for (channel, value) in rgb.iter_mut().enumerate() {
            *value |= (((bits >> channel) & 1) as u8) << shift;
        }
        bits >>= 3;
    }
    rgb
}

/// The index whose VOC colormap entry is `rgb`, if any.
pub fn voc_index(rgb: [u8; 3]) -> Option<u8> {
    let mut index = 0u32;
    for level in 0..3 {
        let shift = 7 - level;
        for (channel, value) in rgb.iter().enumerate() {
            index |= u32::from((value >> shift) & 1) << (3 * level + channel);
        }
    }
    let index = u8::try_from(index).ok()?;
    (voc_color(index) == rgb).then_some(index)
}

/// Candidate colours for classes that need one: the VOC colormap, then a
/// deterministic scramble of all 24-bit colours (multiplying by an odd
/// number is a bijection, so every colour comes up once).
fn candidate_colors() -> impl Iterator<Item = [u8; 3]> {
    let voc = (1..=255u8).map(voc_color);
    let scrambled = (0..1u32 << 24).map(|i| {
        let h = i.wrapping_mul(0x9E_3779) & 0xFF_FFFF;
        [(h >> 16) as u8, (h >> 8) as u8, h as u8]
    });
    voc.chain(scrambled)
}

/// One 8-bit colour per class (index 0 = background, black): a class keeps
/// its own colour unless it is black or already taken by a class with a
/// different source colour; those, and classes without a colour, get fresh
/// ones. Recolourings are reported as warnings.
pub fn distinct_rgb8(catalog: &Catalog, warnings: &mut Vec<Warning>) -> Vec<[u8; 3]> {
    let mut palette: Vec<Option<[u8; 3]>> = vec![None; catalog.len() + 1];
    palette[0] = Some(BLACK);
    let mut owner: HashMap<[u8; 3], Color> = HashMap::new();
    let mut recoloured: Vec<(ClassId, &'static str)> = Vec::new();
    for (id, class) in catalog.iter() {
        let Some(color) = class.color else { continue };
        let rgb = color.to_rgb8();
        if rgb == BLACK {
            recoloured.push((id, "black is kept for unlabeled pixels"));
        } else if owner.get(&rgb).is_some_and(|first| *first != color) {
            recoloured.push((id, "its 8-bit colour is taken by another class"));
        } else {
            owner.insert(rgb, color);
            palette[id as usize] = Some(rgb);
        }
    }
    let mut taken: HashSet<[u8; 3]> = owner.keys().copied().collect();
    taken.insert(BLACK);
    let mut candidates = candidate_colors();
    for slot in palette.iter_mut().filter(|c| c.is_none()) {
        *slot = candidates.find(|c| taken.insert(*c));
    }
    let palette: Vec<[u8; 3]> = palette
        .into_iter()
        .map(|c| c.expect("every class has a colour"))
        .collect();
    for (id, why) in recoloured {
        let class = catalog.get(id);
        let [r, g, b] = palette[id as usize];
        let old = class.color.expect("recoloured classes had a colour");
        warnings.push(Warning::new(
            "recoloured",
            format!(
                "class '{}' is written with colour ({r},{g},{b}) instead of {old}: {why}",
                class.name
            ),
        ));
    }
    palette
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Class, ClassKind};

    #[test]
    fn classes_without_colours_all_get_distinct_ones() {
        let classes = (0..2000)
            .map(|i| Class::new(format!("c{i}"), ClassKind::Stuff))
            .collect();
        let palette = distinct_rgb8(&Catalog::new(classes).unwrap(), &mut Vec::new());
        let distinct: HashSet<[u8; 3]> = palette.iter().copied().collect();
        assert_eq!(distinct.len(), 2001);
        assert!(palette[1..].iter().all(|c| *c != BLACK));
    }

    #[test]
    fn colours_that_collide_at_eight_bits_are_reassigned_and_reported() {
        let classes = vec![
            Class::new("a", ClassKind::Stuff).with_color(Color::Rgb16([4384, 1699, 55003])),
            Class::new("b", ClassKind::Stuff).with_color(Color::Rgb16([4385, 1699, 55003])),
            Class::new("c", ClassKind::Stuff).with_color(Color::Rgb8([0, 0, 0])),
            Class::new("d", ClassKind::Stuff),
        ];
        let catalog = Catalog::new(classes).unwrap();
        let mut warnings = Vec::new();
        let palette = distinct_rgb8(&catalog, &mut warnings);
        assert_eq!(palette[1], Color::Rgb16([4384, 1699, 55003]).to_rgb8());
        let distinct: HashSet<[u8; 3]> = palette.iter().copied().collect();
        assert_eq!(distinct.len(), 5, "{palette:?}");
        assert!(palette[1..].iter().all(|c| *c != BLACK));
        let recoloured: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(recoloured.len(), 2, "{recoloured:?}");
        assert!(recoloured[0].starts_with("class 'b'"));
        assert!(recoloured[1].starts_with("class 'c'"));
    }

    #[test]
    fn voc_colormap_matches_datumaro_values() {
        let expected = [
            (0, [0, 0, 0]),
            (1, [128, 0, 0]),
            (2, [0, 128, 0]),
            (3, [128, 128, 0]),
            (7, [128, 128, 128]),
            (8, [64, 0, 0]),
            (9, [192, 0, 0]),
            (15, [192, 128, 128]),
            (16, [0, 64, 0]),
            (20, [0, 64, 128]),
            (21, [128, 64, 128]),
            (254, [96, 224, 192]),
            (255, [224, 224, 192]),
        ];
        for (index, rgb) in expected {
            assert_eq!(voc_color(index), rgb, "index {index}");
        }
    }

    #[test]
    fn voc_index_inverts_the_colormap_and_rejects_other_colours() {
        for i in 0..=255u8 {
            assert_eq!(voc_index(voc_color(i)), Some(i));
        }
        assert_eq!(voc_index([1, 2, 3]), None);
        assert_eq!(voc_index([23, 190, 207]), None);
    }
}
