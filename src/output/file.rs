//! Files written where the user asked (`-o`, `--folded`, `--pprof`): whole
//! or not at all, and never through a link someone planted at the name.
//!
//! dflow runs as root, often in a shared directory such as /tmp. A file
//! opened by name with `O_CREAT` follows a symlink another user put there
//! and truncates whatever it points at; so the file is written under a new
//! name created with `O_EXCL` (which follows no link) beside it and renamed
//! over the name, which replaces the directory entry itself. Devices,
//! FIFOs and sockets (`-o /dev/stdout`) are written in place: there is
//! nothing to rename over.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

/// Writes `path` with `write`: the whole result appears at once, or the
/// old file stays.
pub fn write_whole<E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    if let Ok(meta) = std::fs::metadata(path) {
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_fifo() || kind.is_socket() {
            let mut out = BufWriter::new(File::options().write(true).open(path)?);
            write(&mut out)?;
            return Ok(out.flush()?);
        }
    }
    let (tmp, file) = create_beside(path)?;
    let result = (|| {
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        out.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(std::fs::rename(&tmp, path)?)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new file beside `path`, created exclusively.
fn create_beside(path: &Path) -> io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    for n in 0u32.. {
        let tmp = dir.join(format!(
            ".{}.dflow-{}-{n}",
            name.to_string_lossy(),
            std::process::id()
        ));
        match File::options().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_at_the_name_is_replaced_not_followed() {
        let dir = std::env::temp_dir().join(format!("dflow-whole-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let precious = dir.join("precious");
        std::fs::write(&precious, "keep").unwrap();
        let out = dir.join("out.svg");
        std::os::unix::fs::symlink(&precious, &out).unwrap();
        write_whole::<io::Error>(&out, |w| w.write_all(b"<svg/>")).unwrap();
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "<svg/>");
        assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
        // A failed write leaves the old file and no scratch file.
        let failed = write_whole(&out, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "<svg/>");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        // A device is written in place.
        write_whole::<io::Error>(Path::new("/dev/null"), |w| w.write_all(b"x")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
