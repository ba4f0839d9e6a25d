//! Mask files named by URL inside an annotation file (Nucleus `mask_url`,
//! Segments.ai `segmentation_bitmap.url`): where each is read from, the
//! options that map remote URLs (`--mask-root`) and make written URLs
//! absolute (`--url-prefix`), which those formats share.
//!
//! - a relative path is relative to the annotation file's folder: a file of
//!   the input, or (for an input on disk) a file beside it;
//! - an absolute path or a `file://` URL is a file of the local disk;
//! - any other `scheme://` URL (`s3://`, `gs://`, `http(s)://`) is remote
//!   and read from a local copy named by `--mask-root PREFIX=DIR`: the
//!   longest matching PREFIX is replaced by DIR. Nothing is downloaded.

use super::options::{Direction, FormatOptions, OptionSpec};
use crate::error::{Error, Result};
use crate::io::Source;
use crate::model::FileRef;
use std::path::{Path, PathBuf};

/// `--mask-root PREFIX=DIR` (reading Nucleus, Segments.ai).
pub static MASK_ROOT: OptionSpec = OptionSpec {
    name: "mask-root",
    value: Some("PREFIX=DIR"),
    help: "Read remote mask URLs starting with PREFIX from the local folder DIR (repeatable, longest prefix wins), e.g. s3://bucket/run1/=./masks",
    repeatable: true,
    direction: Direction::Read,
    check: Some(|arg| MaskRoot::parse(arg).map(drop)),
};

/// `--url-prefix URL` (writing Nucleus, Segments.ai).
pub static URL_PREFIX: OptionSpec = OptionSpec {
    name: "url-prefix",
    value: Some("URL"),
    help: "Written mask and image URLs are URL + the file's path in OUTPUT, e.g. s3://bucket/run1/ where OUTPUT will be uploaded",
    repeatable: false,
    direction: Direction::Write,
    check: None,
};

/// The `--mask-root` options given (a malformed one is a usage error).
pub fn mask_roots(options: &FormatOptions) -> Result<Vec<MaskRoot>> {
    options
        .values(MASK_ROOT.name)
        .map(|arg| {
            MaskRoot::parse(arg)
                .map_err(|what| Error::usage(format!("invalid value for --mask-root: {what}")))
        })
        .collect()
}

/// `--url-prefix` as a folder URL (ending in `/`), if given; an empty one
/// is a usage error.
pub fn url_folder(options: &FormatOptions) -> Result<Option<String>> {
    match options.value(URL_PREFIX.name) {
        None => Ok(None),
        Some("") => Err(Error::usage(
            "--url-prefix is empty; give the URL (or folder) OUTPUT will be uploaded to",
        )),
        Some(prefix) if prefix.ends_with('/') => Ok(Some(prefix.to_string())),
        Some(prefix) => Ok(Some(format!("{prefix}/"))),
    }
}

/// `--mask-root PREFIX=DIR`: remote URLs starting with PREFIX are read from DIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskRoot {
    /// The URL prefix, e.g. `s3://bucket/run1/`.
    pub prefix: String,
    /// The local folder holding what is under the prefix.
    pub dir: PathBuf,
}

impl MaskRoot {
    /// Parses `PREFIX=DIR` (split at the first `=`).
    pub fn parse(arg: &str) -> std::result::Result<MaskRoot, String> {
        match arg.split_once('=') {
            Some((prefix, dir)) if !prefix.is_empty() && !dir.is_empty() => Ok(MaskRoot {
                prefix: prefix.to_string(),
                dir: PathBuf::from(dir),
            }),
            _ => Err(format!(
                "'{arg}' is not PREFIX=DIR (e.g. s3://bucket/masks/=./masks)"
            )),
        }
    }
}

/// Resolves `url`, found in the annotation file in folder `base` of the
/// input (`""` or `a/b/`). The error says, in words, why it cannot be read.
pub fn resolve(
    url: &str,
    base: &str,
    source: &dyn Source,
    roots: &[MaskRoot],
) -> std::result::Result<FileRef, String> {
    if url.is_empty() {
        return Err("the mask URL is empty".into());
    }
    if let Some((scheme, rest)) = split_scheme(url) {
        if scheme.eq_ignore_ascii_case("file") {
            return file_url_path(rest).map(FileRef::Local);
        }
        return remote(url, &scheme.to_ascii_lowercase(), roots).map(FileRef::Local);
    }
    if Path::new(url).is_absolute() {
        return Ok(FileRef::Local(PathBuf::from(url)));
    }
    let joined = format!("{base}{url}");
    match normalize(&joined) {
        Some(path) => Ok(FileRef::Input(path)),
        None => match source.local_dir() {
            Some(dir) => Ok(FileRef::Local(dir.join(base).join(url))),
            None => Err(format!(
                "relative path '{url}' leads outside the archive; only an input folder may refer to files beside it"
            )),
        },
    }
}

/// `("s3", "bucket/key")` for `s3://bucket/key`; `None` without a scheme.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    valid.then_some((scheme, rest))
}

/// The path of `file://[localhost]/path`, percent-decoded.
fn file_url_path(rest: &str) -> std::result::Result<PathBuf, String> {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(format!(
            "file URL 'file://{rest}' names another host; only local files (file:///path) can be read"
        ));
    }
    percent_decode(path).map(PathBuf::from)
}

/// The local file a remote URL is mapped to by the longest matching root.
fn remote(url: &str, scheme: &str, roots: &[MaskRoot]) -> std::result::Result<PathBuf, String> {
    // A prefix matches whole path components: `s3://b/masks` is not a
    // prefix of `s3://b/masks2/x.png`.
    let matches = |root: &&MaskRoot| {
        url.strip_prefix(root.prefix.as_str()).is_some_and(|rest| {
            root.prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#'])
        })
    };
    let Some(root) = roots.iter().filter(matches).max_by_key(|r| r.prefix.len()) else {
        let host_end = url[scheme.len() + 3..]
            .find('/')
            .map_or(url.len(), |i| scheme.len() + 3 + i + 1);
        return Err(format!(
            "'{url}' is a remote URL and nothing is downloaded; map it to a local copy with --mask-root PREFIX=DIR (e.g. --mask-root {}=./masks/)",
            &url[..host_end]
        ));
    };
    let mut rest = &url[root.prefix.len()..];
    let web = scheme == "http" || scheme == "https";
    if web {
        // Query strings (signed URLs) and fragments are not part of the file.
        rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    }
    let rest = if web {
        percent_decode(rest)?
    } else {
        rest.to_string()
    };
    let rest = rest.trim_start_matches('/');
    if rest.split('/').any(|part| part == "..") {
        return Err(format!(
            "'{url}' contains '..'; refusing to leave the --mask-root folder"
        ));
    }
    Ok(root.dir.join(rest))
}

/// `a/./b/../c` → `a/c`; `None` when the path climbs above its start.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// Decodes `%XX` escapes (UTF-8).
fn percent_decode(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("'{text}' has a malformed %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{text}' decodes to invalid UTF-8"))
}

/// The URL of `path` (a `/`-separated output path) under `prefix`: for
/// `http(s)` prefixes every byte but unreserved ones and `/` is
/// percent-encoded (as [`resolve`] decodes it); for other schemes (`s3://`,
/// `gs://` object keys) and local paths it is appended as it is.
pub fn url_of(prefix: &str, path: &str) -> String {
    let web = split_scheme(prefix).is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    });
    if !web {
        return format!("{prefix}{path}");
    }
    let mut url = String::from(prefix);
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// How a written file at `path` is referred to: `url_of(folder, path)`
/// under `--url-prefix` (`folder`), else the relative path itself.
pub fn output_url(folder: Option<&str>, path: &str) -> String {
    match folder {
        Some(folder) => url_of(folder, path),
        None => path.to_string(),
    }
}

/// [`resolve`] with the error naming the annotation file (`display`), and
/// a file the input lists referred to by its index there.
pub fn resolve_for(
    url: &str,
    base: &str,
    source: &dyn Source,
    roots: &[MaskRoot],
    display: impl FnOnce() -> String,
) -> Result<FileRef> {
    match resolve(url, base, source, roots) {
        Ok(FileRef::Input(path)) => Ok(FileRef::in_input(source.files(), path)),
        Ok(file) => Ok(file),
        Err(what) => Err(Error::input(display(), what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;

    fn roots() -> Vec<MaskRoot> {
        vec![
            MaskRoot::parse("s3://bucket/=/data/all").unwrap(),
            MaskRoot::parse("s3://bucket/run1/=/data/run1").unwrap(),
            MaskRoot::parse("https://host/m/=/web").unwrap(),
        ]
    }

    #[test]
    fn relative_absolute_file_and_mapped_remote_urls_resolve() {
        let source = MemorySource::default();
        let at = |url: &str| resolve(url, "ds/", &source, &roots());
        assert_eq!(
            at("masks/a.png"),
            Ok(FileRef::Input("ds/masks/a.png".into()))
        );
        assert_eq!(at("./x/../b.png"), Ok(FileRef::Input("ds/b.png".into())));
        assert_eq!(at("/abs/a.png"), Ok(FileRef::Local("/abs/a.png".into())));
        assert_eq!(
            at("file:///my%20masks/a.png"),
            Ok(FileRef::Local("/my masks/a.png".into()))
        );
        assert_eq!(
            at("FILE://localhost/a.png"),
            Ok(FileRef::Local("/a.png".into()))
        );
        // The longest prefix wins.
        assert_eq!(
            at("s3://bucket/run1/masks/a.png"),
            Ok(FileRef::Local("/data/run1/masks/a.png".into()))
        );
        assert_eq!(
            at("s3://bucket/other/a.png"),
            Ok(FileRef::Local("/data/all/other/a.png".into()))
        );
        assert_eq!(
            at("https://host/m/a%20b.png?X-Amz-Signature=1"),
            Ok(FileRef::Local("/web/a b.png".into()))
        );
    }

    #[test]
    fn prefixes_match_whole_path_components() {
        let roots = vec![MaskRoot::parse("s3://b/masks=/d").unwrap()];
        let source = MemorySource::default();
        assert_eq!(
            resolve("s3://b/masks/x.png", "", &source, &roots),
            Ok(FileRef::Local("/d/x.png".into()))
        );
        assert!(resolve("s3://b/masks2/x.png", "", &source, &roots).is_err());
    }

    #[test]
    fn web_urls_are_percent_encoded_and_read_back_to_the_same_file() {
        let url = url_of("https://h/run/", "masks/a b#1?%.png");
        assert_eq!(url, "https://h/run/masks/a%20b%231%3F%25.png");
        assert_eq!(url_of("s3://b/", "masks/a b.png"), "s3://b/masks/a b.png");
        let roots = vec![MaskRoot::parse("https://h/run/=/o").unwrap()];
        assert_eq!(
            resolve(&url, "", &MemorySource::default(), &roots),
            Ok(FileRef::Local("/o/masks/a b#1?%.png".into()))
        );
    }

    #[test]
    fn unmapped_remote_urls_and_escapes_are_explained() {
        let source = MemorySource::default();
        let err = resolve("gs://b/k/m.png", "", &source, &roots()).unwrap_err();
        assert!(err.contains("--mask-root gs://b/=./masks/"), "{err}");
        let err = resolve("../m.png", "", &source, &[]).unwrap_err();
        assert!(err.contains("outside the archive"), "{err}");
        let err = resolve("s3://bucket/../../etc/x.png", "", &source, &roots()).unwrap_err();
        assert!(err.contains("'..'"), "{err}");
        assert!(resolve("file://host/a.png", "", &source, &[]).is_err());
        assert!(resolve("", "", &source, &[]).is_err());
        assert!(MaskRoot::parse("s3://b/").is_err());
        assert!(MaskRoot::parse("=dir").is_err());
    }
}
