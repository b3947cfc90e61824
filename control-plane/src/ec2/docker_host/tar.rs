//! The tar (ustar) archive DockerHost uploads into a created instance: its user data and files.

use super::InstanceFile;

/// A tar (ustar) archive of `files`, their paths relative to `/`, for Docker's archive upload
/// (which creates missing parent directories). Refuses relative paths, `..` and paths ustar
/// cannot hold.
pub(super) fn tar_archive(files: &[InstanceFile]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for file in files {
        let path = file
            .path
            .strip_prefix('/')
            .ok_or_else(|| format!("file path {:?} is not absolute", file.path))?;
        if path.is_empty() || path.split('/').any(|p| p.is_empty() || p == "..") {
            return Err(format!(
                "file path {:?} is not a plain absolute path",
                file.path
            ));
        }
        let (prefix, name) = split_ustar_path(path)
            .ok_or_else(|| format!("file path {:?} is too long for a tar header", file.path))?;
        let mut header = [0u8; 512];
        put(&mut header[0..100], name.as_bytes());
        put(
            &mut header[100..108],
            format!("{:07o}", file.mode & 0o7777).as_bytes(),
        );
        put(&mut header[108..116], b"0000000");
        put(&mut header[116..124], b"0000000");
        put(
            &mut header[124..136],
            format!("{:011o}", file.contents.len()).as_bytes(),
        );
        put(&mut header[136..148], b"00000000000");
        header[156] = b'0';
        put(&mut header[257..265], b"ustar\x0000");
        put(&mut header[345..500], prefix.as_bytes());
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        put(&mut header[148..156], format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&file.contents);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

fn put(field: &mut [u8], value: &[u8]) {
    field[..value.len()].copy_from_slice(value);
}

/// Splits a path into ustar's prefix (155 bytes) and name (100 bytes) at a `/`.
fn split_ustar_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    path.char_indices()
        .filter(|&(i, c)| c == '/' && i <= 155 && path.len() - i - 1 <= 100)
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .next()
}
