//! The bucket's `SHA256SUM`: what `sha256sum` prints for every file, paths relative to the root.

use super::FetchError;
use crate::trace::{part_number, PartSelection};

/// A SHA-256 digest.
pub type Sha256 = [u8; 32];

/// One line of `SHA256SUM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumEntry {
    /// Path relative to the bucket root, e.g. `task_events/part-00000-of-00500.csv.gz`.
    pub path: String,
    pub sha256: Sha256,
}

/// Parses `<64 hex> *path` (binary mode) and `<64 hex>  path` (text mode) lines; blank
/// lines are ignored, anything else is an error naming the line.
pub fn parse(url: &str, text: &str) -> Result<Vec<SumEntry>, FetchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: &str| FetchError::SumsLine {
            url: url.to_owned(),
            line: i as u64 + 1,
            problem: problem.to_owned(),
        };
        let (hex, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected `<sha256> *<path>`"))?;
        let sha256 = parse_hex(hex).ok_or_else(|| bad("the digest is not 64 hex digits"))?;
        let path = rest
            .strip_prefix('*')
            .or_else(|| rest.strip_prefix(' '))
            .ok_or_else(|| bad("expected ` *` or two spaces between digest and path"))?;
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        out.push(SumEntry {
            path: path.trim_start_matches("./").to_owned(),
            sha256,
        });
    }
    Ok(out)
}

pub fn parse_hex(hex: &str) -> Option<Sha256> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

pub fn to_hex(d: &Sha256) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A part listed in `SHA256SUM` under one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u32,
    /// Path relative to the root of the `SHA256SUM` that lists it.
    pub path: String,
    /// The file name (`part-00000-of-00500.csv.gz`).
    pub name: String,
    pub sha256: Sha256,
}

/// The parts of `folder` (`""` for the root) that `selection` keeps, by part number.
pub fn parts_under(
    entries: &[SumEntry],
    folder: &str,
    selection: &PartSelection,
) -> Vec<ListedPart> {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{}/", folder.trim_end_matches('/'))
    };
    let mut parts: Vec<ListedPart> = entries
        .iter()
        .filter_map(|e| {
            let name = e.path.strip_prefix(&prefix)?;
            if name.contains('/') {
                return None;
            }
            let number = part_number(name)?;
            Some(ListedPart {
                number,
                path: e.path.clone(),
                name: name.to_owned(),
                sha256: e.sha256,
            })
        })
        .collect();
    parts.sort_by_key(|p| p.number);
    parts.dedup_by_key(|p| p.number);
    selection.apply(parts, |p| p.number)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "5ea0f3b5a1b1e1c7f3a9b0e5b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0";

    #[test]
    fn binary_and_text_mode_lines() {
        let text = format!(
            "{A} *task_events/part-00001-of-00500.csv.gz\n\n{A}  task_events/part-00000-of-00500.csv.gz\r\n{A} *job_events/part-00000-of-00500.csv.gz\n{A} *README\n"
        );
        let e = parse("u", &text).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(to_hex(&e[0].sha256), A);
        let parts = parts_under(&e, "task_events", &PartSelection::All);
        assert_eq!(
            parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(parts[0].name, "part-00000-of-00500.csv.gz");
        assert_eq!(parts_under(&e, "", &PartSelection::All), vec![]);
        assert_eq!(parts_under(&e, "job_events/", &PartSelection::All).len(), 1);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = parse("https://x/SHA256SUM", &format!("{A} *a\nnot a digest *b\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "https://x/SHA256SUM:2: the digest is not 64 hex digits"
        );
        let e = parse("u", &format!("{A}*a\n")).unwrap_err();
        assert!(e.to_string().contains("u:1:"), "{e}");
        let e = parse("u", &format!("{A} -a\n")).unwrap_err();
        assert!(e.to_string().contains("two spaces"), "{e}");
    }
}
