//! `--parts`: which parts of each table to read or fetch.

use std::fmt;
use std::str::FromStr;

/// `all`, `N` (the first N parts by number) or `A..B` (part numbers A to B, both included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartSelection {
    #[default]
    All,
    First(u32),
    Range(u32, u32),
}

impl PartSelection {
    /// Keeps the selected items of `parts` (sorted by part number).
    pub fn apply<T>(&self, parts: Vec<T>, number: impl Fn(&T) -> u32) -> Vec<T> {
        match *self {
            PartSelection::All => parts,
            PartSelection::First(n) => parts.into_iter().take(n as usize).collect(),
            PartSelection::Range(a, b) => parts
                .into_iter()
                .filter(|p| (a..=b).contains(&number(p)))
                .collect(),
        }
    }
}

impl FromStr for PartSelection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "all" {
            return Ok(PartSelection::All);
        }
        let num = |t: &str| {
            t.trim().parse::<u32>().map_err(|_| {
                format!("`{s}`: expected all, N (the first N parts) or A..B (parts A to B)")
            })
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b.strip_prefix('=').unwrap_or(b))?);
                if a > b {
                    return Err(format!("`{s}`: the range is empty ({a} > {b})"));
                }
                Ok(PartSelection::Range(a, b))
            }
            None => match num(s)? {
                0 => Err(format!("`{s}`: select at least one part")),
                n => Ok(PartSelection::First(n)),
            },
        }
    }
}

impl fmt::Display for PartSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartSelection::All => f.write_str("all"),
            PartSelection::First(n) => write!(f, "{n}"),
            PartSelection::Range(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!("all".parse(), Ok(PartSelection::All));
        assert_eq!("3".parse(), Ok(PartSelection::First(3)));
        assert_eq!("2..4".parse(), Ok(PartSelection::Range(2, 4)));
        assert_eq!("2..=4".parse(), Ok(PartSelection::Range(2, 4)));
        assert!("0".parse::<PartSelection>().is_err());
        assert!("5..4"
            .parse::<PartSelection>()
            .unwrap_err()
            .contains("empty"));
        assert!("x".parse::<PartSelection>().unwrap_err().contains("A..B"));
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(
            PartSelection::First(3).apply(v.clone(), |&n| n),
            vec![0, 1, 2]
        );
        assert_eq!(PartSelection::Range(8, 20).apply(v, |&n| n), vec![8, 9]);
    }
}
