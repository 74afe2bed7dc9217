//! Where a table's parts are: a local folder, or a folder of an HTTP(S) bucket whose
//! `SHA256SUM` lists them (the layout of the public trace bucket).

use super::error::TraceError;
use super::reader::{discover_parts, Part};
use super::selection::PartSelection;
use crate::fetch::{self, Client, FetchError, RemotePart};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    /// A folder URL, without the trailing slash.
    Url(String),
}

impl FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if fetch::is_url(s) {
            Location::Url(s.trim_end_matches('/').to_owned())
        } else {
            Location::Dir(PathBuf::from(s))
        })
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Location::Dir(p)
    }
}

impl From<&std::path::Path> for Location {
    fn from(p: &std::path::Path) -> Self {
        Location::Dir(p.to_owned())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Dir(p) => write!(f, "{}", p.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

impl Location {
    /// The selected parts, sorted by part number. A URL's parts are those its bucket's
    /// `SHA256SUM` lists under it: the one in the parent folder (the bucket root, paths like
    /// `task_events/part-…`), else one in the folder itself.
    pub fn parts(
        &self,
        selection: &PartSelection,
        client: &Client,
    ) -> Result<Vec<Part>, TraceError> {
        match self {
            Location::Dir(dir) => {
                let parts = selection.apply(discover_parts(dir)?, |p| p.number);
                if parts.is_empty() {
                    return Err(TraceError::NoParts { dir: dir.clone() });
                }
                Ok(parts)
            }
            Location::Url(url) => {
                remote_parts(url, selection, client).map_err(|e| TraceError::Fetch {
                    location: url.clone(),
                    source: Box::new(e),
                })
            }
        }
    }
}

fn remote_parts(
    url: &str,
    selection: &PartSelection,
    client: &Client,
) -> Result<Vec<Part>, FetchError> {
    let (parent, folder) = match url.rsplit_once('/') {
        Some((p, f))
            if !f.is_empty()
                && p.contains("://")
                && p.split("://").nth(1).is_some_and(|h| !h.is_empty()) =>
        {
            (format!("{p}/"), f.to_owned())
        }
        _ => (format!("{url}/"), String::new()),
    };
    let mut tried = Vec::new();
    let candidates = [
        (parent.clone(), folder.clone()),
        (format!("{url}/"), String::new()),
    ];
    for (root, folder) in candidates {
        let sums_url = format!("{root}SHA256SUM");
        if tried.contains(&sums_url) {
            continue;
        }
        let text = match client.get_text(&sums_url) {
            Ok(t) => t,
            Err(FetchError::Status {
                status: 404 | 403, ..
            }) => {
                tried.push(sums_url);
                continue;
            }
            Err(e) => return Err(e),
        };
        let entries = fetch::sums::parse(&sums_url, &text)?;
        let listed = fetch::sums::parts_under(&entries, &folder, selection);
        if listed.is_empty() {
            return Err(FetchError::NoListedParts {
                sums: sums_url,
                folder: if folder.is_empty() {
                    ".".into()
                } else {
                    folder
                },
                selection: selection.to_string(),
            });
        }
        return Ok(listed
            .into_iter()
            .map(|p| {
                let url = format!("{root}{}", p.path);
                Part {
                    number: p.number,
                    path: PathBuf::from(&url),
                    remote: Some(RemotePart {
                        url,
                        sha256: p.sha256,
                    }),
                }
            })
            .collect());
    }
    Err(FetchError::NoSums {
        url: url.to_owned(),
        tried: tried.join(", "),
    })
}
