//! Writing a folder as a ustar archive (the format every `tar` reads).

use std::io::{Read, Write};
use std::path::Path;

/// `dir`'s files, folders and links as a ustar archive in memory.
pub fn archive(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_archive(dir, &mut out)?;
    Ok(out)
}

/// Writes `dir`'s files, folders and links to `out` as a ustar archive, a
/// piece at a time (a file's content is never held whole).
pub fn write_archive(dir: &Path, out: &mut impl Write) -> std::io::Result<()> {
    let mut pending = vec![std::path::PathBuf::new()];
    let mut entries = Vec::new();
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path.clone());
            }
            entries.push((path, kind));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in entries {
        let name = path.to_string_lossy().replace('\\', "/");
        if kind.is_dir() {
            header(out, &format!("{name}/"), 0o755, 0, b'5', "")?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(dir.join(&path))?;
            header(out, &name, 0o777, 0, b'2', &target.to_string_lossy())?;
        } else {
            let mut file = std::fs::File::open(dir.join(&path))?;
            let size = file.metadata()?.len();
            header(out, &name, 0o644, size, b'0', "")?;
            // Exactly `size` bytes, whatever the file does meanwhile.
            let copied = std::io::copy(&mut (&mut file).take(size), out)?;
            if copied < size {
                return Err(std::io::Error::other(format!(
                    "`{name}` shrank while it was archived"
                )));
            }
            let pad = ((512 - size % 512) % 512) as usize;
            out.write_all(&[0u8; 512][..pad])?;
        }
    }
    out.write_all(&[0u8; 1024])?;
    Ok(())
}

fn header(
    out: &mut impl Write,
    name: &str,
    mode: u32,
    size: u64,
    kind: u8,
    link: &str,
) -> std::io::Result<()> {
    let mut h = [0u8; 512];
    let (prefix, short) = split_name(name)?;
    h[..short.len()].copy_from_slice(short.as_bytes());
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[148..156].copy_from_slice(b"        ");
    h[156] = kind;
    if link.len() > 100 {
        return Err(std::io::Error::other(format!(
            "link target of `{name}` is too long for tar"
        )));
    }
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    let checksum = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(checksum.as_bytes());
    out.write_all(&h)
}

fn split_name(name: &str) -> std::io::Result<(&str, &str)> {
    if name.len() <= 100 {
        return Ok(("", name));
    }
    for (i, c) in name.char_indices().rev() {
        if c == '/' && i <= 155 && name.len() - i - 1 <= 100 {
            return Ok((&name[..i], &name[i + 1..]));
        }
    }
    Err(std::io::Error::other(format!(
        "path `{name}` is too long for tar"
    )))
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_archive_lists_its_files_for_tar() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/c.txt"), "hello").unwrap();
        std::fs::write(dir.join("top"), vec![7u8; 700]).unwrap();
        let archive = super::archive(&dir).unwrap();
        assert_eq!(archive.len() % 512, 0);
        let out = dir.with_extension("tar");
        std::fs::write(&out, &archive).unwrap();
        let listing = std::process::Command::new("tar")
            .arg("tf")
            .arg(&out)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert_eq!(
            listing.lines().collect::<Vec<_>>(),
            ["a/", "a/b/", "a/b/c.txt", "top"]
        );
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("support-tar-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
