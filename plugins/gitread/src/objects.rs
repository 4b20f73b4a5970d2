//! Decoding the four kinds of git object from their raw bytes.
//!
//! Parsing is lenient where git itself is (odd author lines in old imported
//! history) and strict where a checkout depends on it (tree ids and modes).

use std::fmt;

use crate::{Error, ObjectId};

/// The kind of a git object, as named in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Commit,
    Tree,
    Blob,
    Tag,
}

impl ObjectKind {
    /// The kind named in a loose object header (`blob 12\0...`).
    pub(crate) fn from_name(name: &[u8]) -> Option<ObjectKind> {
        match name {
            b"commit" => Some(ObjectKind::Commit),
            b"tree" => Some(ObjectKind::Tree),
            b"blob" => Some(ObjectKind::Blob),
            b"tag" => Some(ObjectKind::Tag),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
            ObjectKind::Tag => "tag",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An object's kind and content (without the loose-object header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub kind: ObjectKind,
    pub data: Vec<u8>,
}

impl Object {
    /// The content, if the object is of the `expected` kind.
    pub(crate) fn into_kind(self, id: &ObjectId, expected: ObjectKind) -> Result<Vec<u8>, Error> {
        if self.kind == expected {
            Ok(self.data)
        } else {
            Err(Error::WrongKind {
                id: *id,
                expected,
                found: self.kind,
            })
        }
    }
}

/// Who made a commit or tag, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The author's time zone as minutes east of UTC (`+0130` is 90).
    pub offset_minutes: i32,
}

impl Signature {
    /// Parses `Name <email> 1700000000 +0100`. Git has accepted malformed
    /// lines in the past (imports from other systems), so parts that do not
    /// parse are left empty or zero instead of failing the whole commit.
    fn parse(line: &[u8]) -> Signature {
        let text = String::from_utf8_lossy(line);
        let (Some(open), Some(close)) = (text.find('<'), text.rfind('>')) else {
            return Signature {
                name: text.trim().to_string(),
                email: String::new(),
                time: 0,
                offset_minutes: 0,
            };
        };
        if close < open {
            return Signature {
                name: text.trim().to_string(),
                email: String::new(),
                time: 0,
                offset_minutes: 0,
            };
        }
        let name = text[..open].trim().to_string();
        let email = text[open + 1..close].to_string();
        let mut rest = text[close + 1..].split_ascii_whitespace();
        let time = rest.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        let offset_minutes = rest.next().and_then(parse_tz).unwrap_or(0);
        Signature {
            name,
            email,
            time,
            offset_minutes,
        }
    }
}

/// `+hhmm` / `-hhmm` as minutes east of UTC.
fn parse_tz(tz: &str) -> Option<i32> {
    let (sign, digits) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    Some(sign * (hours * 60 + minutes))
}

/// A decoded commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub id: ObjectId,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author: Signature,
    pub committer: Signature,
    /// Everything after the blank line that ends the headers, as stored
    /// (usually with a trailing newline). Not valid UTF-8 is replaced.
    pub message: String,
}

/// A header line's key and value (`parent` and the hex id).
type Header<'a> = (&'a [u8], &'a [u8]);

/// Splits an object into header lines and the message after the first
/// blank line. Lines starting with a space continue the previous header
/// (`gpgsig`, `mergetag`), and are returned as part of it so no header's
/// body is mistaken for a header of its own.
fn headers(data: &[u8]) -> (Vec<Header<'_>>, &[u8]) {
    let mut headers = Vec::new();
    let mut rest = data;
    loop {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        if line.is_empty() {
            return (headers, after);
        }
        if line[0] != b' ' {
            let (key, value) = match line.iter().position(|&b| b == b' ') {
                Some(space) => (&line[..space], &line[space + 1..]),
                None => (line, &line[line.len()..]),
            };
            headers.push((key, value));
        }
        if after.is_empty() {
            return (headers, after);
        }
        rest = after;
    }
}

impl Commit {
    pub(crate) fn parse(id: ObjectId, data: &[u8]) -> Result<Commit, Error> {
        let corrupt = |detail: &str| Error::corrupt(format!("commit {id}"), detail);
        let (headers, message) = headers(data);
        let mut tree = None;
        let mut parents = Vec::new();
        let mut author = None;
        let mut committer = None;
        for (key, value) in headers {
            match key {
                b"tree" if tree.is_none() => {
                    tree = Some(
                        ObjectId::from_hex_prefix(value)
                            .filter(|_| value.len() == 40)
                            .ok_or_else(|| corrupt("bad tree id"))?,
                    );
                }
                b"parent" => parents.push(
                    ObjectId::from_hex_prefix(value)
                        .filter(|_| value.len() == 40)
                        .ok_or_else(|| corrupt("bad parent id"))?,
                ),
                b"author" if author.is_none() => author = Some(Signature::parse(value)),
                b"committer" if committer.is_none() => committer = Some(Signature::parse(value)),
                _ => {}
            }
        }
        Ok(Commit {
            id,
            tree: tree.ok_or_else(|| corrupt("no tree header"))?,
            parents,
            author: author.ok_or_else(|| corrupt("no author header"))?,
            committer: committer.ok_or_else(|| corrupt("no committer header"))?,
            message: String::from_utf8_lossy(message).into_owned(),
        })
    }
}

/// The target of an annotated tag; only what peeling a tag needs.
pub(crate) struct TagTarget {
    pub id: ObjectId,
}

impl TagTarget {
    pub(crate) fn parse(id: ObjectId, data: &[u8]) -> Result<TagTarget, Error> {
        let (headers, _) = headers(data);
        headers
            .iter()
            .find(|(key, _)| *key == b"object")
            .and_then(|(_, value)| ObjectId::from_hex_prefix(value))
            .map(|target| TagTarget { id: target })
            .ok_or_else(|| Error::corrupt(format!("tag {id}"), "no object header"))
    }
}

/// What a tree entry is, from its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A subfolder (mode 40000).
    Tree,
    /// A regular file (100644, or historical variants like 100664).
    File,
    /// A regular file with the executable bit (100755).
    Executable,
    /// A symbolic link (120000); the blob holds the link target.
    Symlink,
    /// A submodule commit (160000); the id is a commit of another repository.
    Submodule,
}

impl EntryKind {
    /// The kind for a tree entry mode. Like git, any regular-file mode counts,
    /// with only the owner's executable bit deciding between the two.
    fn from_mode(mode: u32) -> Option<EntryKind> {
        match mode & 0o170000 {
            0o040000 => Some(EntryKind::Tree),
            0o100000 if mode & 0o100 != 0 => Some(EntryKind::Executable),
            0o100000 => Some(EntryKind::File),
            0o120000 => Some(EntryKind::Symlink),
            0o160000 => Some(EntryKind::Submodule),
            _ => None,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            EntryKind::Tree => "folder",
            EntryKind::File | EntryKind::Executable => "file",
            EntryKind::Symlink => "symlink",
            EntryKind::Submodule => "submodule",
        }
    }
}

/// One entry of a tree: a name in a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub kind: EntryKind,
    /// The raw mode, e.g. `0o100644`.
    pub mode: u32,
    /// The file name as stored: git does not require UTF-8.
    pub name: Vec<u8>,
    pub id: ObjectId,
}

impl TreeEntry {
    /// The name for messages and change lists; bytes that are not UTF-8 are replaced.
    pub fn name_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
}

/// A decoded tree: the entries of one folder, in git's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub id: ObjectId,
    pub entries: Vec<TreeEntry>,
}

impl Tree {
    /// Parses `mode SP name NUL id20` records.
    pub(crate) fn parse(id: ObjectId, data: &[u8]) -> Result<Tree, Error> {
        let corrupt = |detail: String| Error::corrupt(format!("tree {id}"), detail);
        let mut entries = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let space = rest
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(|| corrupt(format!("entry {} has no mode", entries.len())))?;
            let mode_text = &rest[..space];
            if mode_text.is_empty() || mode_text.len() > 7 {
                return Err(corrupt(format!("entry {} has a bad mode", entries.len())));
            }
            let mut mode = 0u32;
            for &digit in mode_text {
                if !(b'0'..=b'7').contains(&digit) {
                    return Err(corrupt(format!("entry {} has a bad mode", entries.len())));
                }
                mode = mode * 8 + u32::from(digit - b'0');
            }
            let after_mode = &rest[space + 1..];
            let nul = after_mode
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| corrupt(format!("entry {} has no name end", entries.len())))?;
            let name = &after_mode[..nul];
            let entry_id = ObjectId::from_slice(&after_mode[nul + 1..])
                .ok_or_else(|| corrupt(format!("entry {} is truncated", entries.len())))?;
            let kind = EntryKind::from_mode(mode).ok_or_else(|| {
                corrupt(format!(
                    "entry `{}` has unknown mode {mode:o}",
                    String::from_utf8_lossy(name)
                ))
            })?;
            entries.push(TreeEntry {
                kind,
                mode,
                name: name.to_vec(),
                id: entry_id,
            });
            rest = &after_mode[nul + 1 + ObjectId::LEN..];
        }
        Ok(Tree { id, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn commit_with_gpgsig_and_merge_parents() {
        let text = format!(
            "tree {}\nparent {}\nparent {}\nauthor A U Thor <a@example.com> 1700000000 +0130\n\
             committer C O Mitter <c@example.com> 1700000100 -0800\n\
             gpgsig -----BEGIN PGP SIGNATURE-----\n \n tree {}\n -----END PGP SIGNATURE-----\n\n\
             Subject\n\nBody line\n",
            id(1),
            id(2),
            id(3),
            id(9)
        );
        let commit = Commit::parse(id(7), text.as_bytes()).unwrap();
        assert_eq!(commit.tree, id(1));
        assert_eq!(commit.parents, vec![id(2), id(3)]);
        assert_eq!(commit.author.name, "A U Thor");
        assert_eq!(commit.author.email, "a@example.com");
        assert_eq!(commit.author.time, 1_700_000_000);
        assert_eq!(commit.author.offset_minutes, 90);
        assert_eq!(commit.committer.offset_minutes, -480);
        assert_eq!(commit.message, "Subject\n\nBody line\n");
    }

    #[test]
    fn commit_without_tree_is_an_error() {
        let err = Commit::parse(id(7), b"author a <b> 1 +0000\n\nmsg").unwrap_err();
        assert!(err.to_string().contains("no tree"), "{err}");
        assert!(Commit::parse(id(7), b"").is_err());
        assert!(Commit::parse(id(7), b"tree 12\n").is_err());
    }

    #[test]
    fn odd_signatures_do_not_fail() {
        let sig = Signature::parse(b"no brackets at all");
        assert_eq!(sig.name, "no brackets at all");
        let sig = Signature::parse(b"Name <mail> notatime +zz");
        assert_eq!(
            (sig.email.as_str(), sig.time, sig.offset_minutes),
            ("mail", 0, 0)
        );
        let sig = Signature::parse(b"x > y <");
        assert_eq!(sig.time, 0);
    }

    #[test]
    fn tree_entries() {
        let mut raw = Vec::new();
        raw.extend_from_slice(b"100644 a.txt\0");
        raw.extend_from_slice(id(1).as_bytes());
        raw.extend_from_slice(b"40000 dir\0");
        raw.extend_from_slice(id(2).as_bytes());
        raw.extend_from_slice(b"100755 run\0");
        raw.extend_from_slice(id(3).as_bytes());
        let tree = Tree::parse(id(0), &raw).unwrap();
        let kinds: Vec<_> = tree.entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EntryKind::File, EntryKind::Tree, EntryKind::Executable]
        );
        assert_eq!(tree.entries[1].name, b"dir");
        assert_eq!(tree.entries[2].id, id(3));

        // Every truncation is an error, never a panic.
        for cut in 0..raw.len() {
            let result = Tree::parse(id(0), &raw[..cut]);
            if cut == 0 || cut == 33 || cut == 63 {
                assert!(result.is_ok(), "cut at {cut}");
            } else {
                assert!(result.is_err(), "cut at {cut}");
            }
        }
        assert!(Tree::parse(id(0), b"999 x\0aaaaaaaaaaaaaaaaaaaa").is_err());
    }
}
