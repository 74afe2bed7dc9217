//! The digests a transfer is checked against: SHA-256 from `SHA256SUM`, and GCS's
//! `x-goog-hash` (crc32c, else md5) when the server sends it.

use super::sums::{to_hex, Sha256};
use base64::Engine;
use md5::Digest as _;

/// What the server's `x-goog-hash` headers promised for the whole object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoogHash {
    pub crc32c: Option<u32>,
    pub md5: Option<[u8; 16]>,
}

impl GoogHash {
    /// Parses `crc32c=<base64>` and `md5=<base64>`, one per header or comma-separated.
    /// Unknown or malformed entries are ignored: this check is a second line behind SHA-256.
    pub fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> GoogHash {
        let mut g = GoogHash::default();
        let b64 = base64::engine::general_purpose::STANDARD;
        for h in headers {
            for item in h.split(',') {
                let Some((k, v)) = item.trim().split_once('=') else {
                    continue;
                };
                let Ok(bytes) = b64.decode(v.trim()) else {
                    continue;
                };
                match k.trim() {
                    "crc32c" => {
                        if let Ok(b) = <[u8; 4]>::try_from(bytes.as_slice()) {
                            g.crc32c = Some(u32::from_be_bytes(b));
                        }
                    }
                    "md5" => {
                        if let Ok(b) = <[u8; 16]>::try_from(bytes.as_slice()) {
                            g.md5 = Some(b);
                        }
                    }
                    _ => {}
                }
            }
        }
        g
    }

    pub fn is_empty(&self) -> bool {
        self.crc32c.is_none() && self.md5.is_none()
    }
}

/// Running digests of a transfer, from byte 0 of the object.
#[derive(Clone)]
pub struct Hashes {
    sha256: sha2::Sha256,
    crc32c: Option<u32>,
    md5: Option<md5::Md5>,
    bytes: u64,
}

impl Default for Hashes {
    fn default() -> Self {
        Hashes {
            sha256: sha2::Sha256::new(),
            crc32c: Some(0),
            md5: None,
            bytes: 0,
        }
    }
}

impl Hashes {
    /// SHA-256 and crc32c (hardware-assisted, nearly free) always; md5 only when asked,
    /// for a server that sends an md5 but no crc32c, as it costs a core's time.
    pub fn new(md5: bool) -> Hashes {
        Hashes {
            md5: md5.then(md5::Md5::new),
            ..Hashes::default()
        }
    }

    /// What checks everything `goog` lists, for a transfer from byte 0.
    pub fn with_goog(goog: &GoogHash) -> Hashes {
        Hashes::new(goog.crc32c.is_none() && goog.md5.is_some())
    }

    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        if let Some(c) = &mut self.crc32c {
            *c = crc32c::crc32c_append(*c, data);
        }
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        self.bytes += data.len() as u64;
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks the digests; the error is `(algorithm, expected, actual)`.
    pub fn check(
        self,
        sha256: &Sha256,
        goog: &GoogHash,
    ) -> Result<(), (&'static str, String, String)> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let actual: Sha256 = self.sha256.finalize().into();
        if &actual != sha256 {
            return Err(("sha256", to_hex(sha256), to_hex(&actual)));
        }
        if let (Some(want), Some(got)) = (goog.crc32c, self.crc32c) {
            if want != got {
                return Err((
                    "crc32c (x-goog-hash)",
                    b64.encode(want.to_be_bytes()),
                    b64.encode(got.to_be_bytes()),
                ));
            }
        }
        if let (Some(want), Some(m)) = (goog.md5, self.md5) {
            let got: [u8; 16] = m.finalize().into();
            if want != got {
                return Err(("md5 (x-goog-hash)", b64.encode(want), b64.encode(got)));
            }
        }
        Ok(())
    }
}

/// SHA-256 of a local file, streamed.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<Sha256> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 17];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goog_hash_headers_and_checks() {
        // "hello" : crc32c 0x9a71bb4c, md5 5d41402abc4b2a76b9719d911017c592.
        let b64 = base64::engine::general_purpose::STANDARD;
        let crc = b64.encode(0x9a71bb4cu32.to_be_bytes());
        let md5 = b64.encode([
            0x5d, 0x41, 0x40, 0x2a, 0xbc, 0x4b, 0x2a, 0x76, 0xb9, 0x71, 0x9d, 0x91, 0x10, 0x17,
            0xc5, 0x92,
        ]);
        let g = GoogHash::parse([format!("crc32c={crc}").as_str(), &format!("md5={md5}")]);
        assert_eq!(g.crc32c, Some(0x9a71bb4c));
        assert!(g.md5.is_some());
        assert_eq!(
            GoogHash::parse([format!("crc32c={crc}, md5={md5}").as_str()]),
            g
        );
        let sha: Sha256 = sha2::Sha256::digest(b"hello").into();
        let mut h = Hashes::with_goog(&g);
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.bytes(), 5);
        h.clone().check(&sha, &g).unwrap();
        let bad = GoogHash {
            crc32c: Some(1),
            md5: None,
        };
        assert_eq!(
            h.clone().check(&sha, &bad).unwrap_err().0,
            "crc32c (x-goog-hash)"
        );
        let only_md5 = GoogHash {
            crc32c: None,
            md5: Some([0; 16]),
        };
        let mut h = Hashes::with_goog(&only_md5);
        h.update(b"hello");
        assert_eq!(h.check(&sha, &only_md5).unwrap_err().0, "md5 (x-goog-hash)");
        let mut h = Hashes::default();
        h.update(b"hellO");
        assert_eq!(h.check(&sha, &g).unwrap_err().0, "sha256");
    }
}
