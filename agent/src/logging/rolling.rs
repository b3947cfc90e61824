//! A log file that rolls over the way the reference agent's seelog `rollingfile` writer does, for
//! the agent log and the audit log alike. Operators' scripts and log shippers look for these
//! names, so they are the reference's:
//!
//! - [`Rollover::Size`]: before a write, once the live file holds `max_bytes` or more, it is renamed
//!   `<name>.<n>`, `n` one more than the highest number already there (so `.1` is the oldest), and
//!   a new live file is started. A line is never split across two files.
//! - [`Rollover::Hourly`]: the first write in a new hour renames the live file
//!   `<name>.<YYYY-MM-DD-HH>`, the hour it was written in (UTC: the reference agent runs in a
//!   container without time zone data, so its local time is UTC).
//! - [`Rollover::Never`]: one file, never renamed.
//!
//! After a roll, the oldest rolled files beyond `max_rolls` are removed; `0` keeps them all, as in
//! seelog. A roll is a rename, so a rolled file keeps the live file's mode; each new live file is
//! created with the mode given at [`RollingFile::open`].
//!
//! What it must not do: create directories (the caller decides their mode), or lose a line when a
//! rename fails (the live file is kept and written to).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

/// When the live file is renamed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rollover {
    /// Once the live file holds this many bytes (the reference: `ECS_LOG_MAX_FILE_SIZE_MB` times
    /// 1,000,000).
    Size {
        /// Bytes at which the next write starts a new file.
        max_bytes: u64,
    },
    /// At the first write of each hour (UTC).
    Hourly,
    /// Never.
    Never,
}

/// An hour, as the file it is written to is named: `(year, day of the year, hour)`.
type Hour = (i32, u16, u8);

fn hour_of(t: OffsetDateTime) -> Hour {
    (t.year(), t.ordinal(), t.hour())
}

/// `YYYY-MM-DD-HH`, seelog's `datepattern="2006-01-02-15"`.
fn hour_suffix((year, ordinal, hour): Hour) -> String {
    match time::Date::from_ordinal_date(year, ordinal) {
        Ok(d) => format!(
            "{year:04}-{:02}-{:02}-{hour:02}",
            u8::from(d.month()),
            d.day()
        ),
        Err(_) => format!("{year:04}-{ordinal:03}-{hour:02}"),
    }
}

/// Whether `s` has the shape of an hourly suffix.
fn is_hour_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 13
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 | 10 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The live log file and the rules for rolling it.
#[derive(Debug)]
pub struct RollingFile {
    path: PathBuf,
    rollover: Rollover,
    max_rolls: u32,
    mode: u32,
    /// `None` after a failed reopen; the next write tries again.
    file: Option<BufWriter<File>>,
    /// Bytes in the live file.
    size: u64,
    /// The hour the live file was started in (hourly), once known.
    hour: Option<Hour>,
    /// Why the last roll failed, until taken.
    roll_error: Option<io::Error>,
}

impl RollingFile {
    /// Opens (appending) or creates `path` with `mode`; its directory must exist.
    pub fn open(path: &Path, rollover: Rollover, max_rolls: u32, mode: u32) -> io::Result<Self> {
        let file = open_live(path, mode)?;
        let meta = file.metadata()?;
        // An existing file belongs to the hour it was last written in, so a restart in a later
        // hour rolls it under its own hour rather than the restart's.
        let hour = meta
            .modified()
            .ok()
            .filter(|_| meta.len() > 0)
            .map(|m| hour_of(OffsetDateTime::from(m)));
        Ok(Self {
            path: path.to_path_buf(),
            rollover,
            max_rolls,
            mode,
            file: Some(BufWriter::new(file)),
            size: meta.len(),
            hour,
            roll_error: None,
        })
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes all of `buf` to the live file, rolling first if the rules say so at `now`. An error
    /// means `buf` was not written; a failed roll alone is not one (the line goes to the live
    /// file, and [`RollingFile::take_roll_error`] has the reason).
    pub fn write_at(&mut self, buf: &[u8], now: OffsetDateTime) -> io::Result<()> {
        if self.needs_roll(now)
            && let Err(e) = self.roll(now)
        {
            self.roll_error = Some(e);
        }
        if self.file.is_none() {
            self.file = Some(BufWriter::new(open_live(&self.path, self.mode)?));
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(buf)?;
            self.size += buf.len() as u64;
        }
        Ok(())
    }

    /// Why the last roll failed, once.
    pub fn take_roll_error(&mut self) -> Option<io::Error> {
        self.roll_error.take()
    }

    fn needs_roll(&mut self, now: OffsetDateTime) -> bool {
        match self.rollover {
            Rollover::Size { max_bytes } => self.size > 0 && self.size >= max_bytes.max(1),
            Rollover::Hourly => {
                let hour = hour_of(now);
                match self.hour {
                    None => {
                        self.hour = Some(hour);
                        false
                    }
                    Some(h) => h != hour,
                }
            }
            Rollover::Never => false,
        }
    }

    /// Renames the live file to its rolled name, starts a new one, and prunes old rolls.
    fn roll(&mut self, now: OffsetDateTime) -> io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.flush()?;
        }
        let suffix = match self.rollover {
            Rollover::Size { .. } => {
                let next = self.rolled()?.last().map_or(0, |(n, _)| *n) + 1;
                next.to_string()
            }
            Rollover::Hourly => hour_suffix(self.hour.unwrap_or_else(|| hour_of(now))),
            Rollover::Never => return Ok(()),
        };
        let rolled = self.rolled_path(&suffix);
        std::fs::rename(&self.path, &rolled)?;
        self.file = None;
        self.size = 0;
        self.hour = Some(hour_of(now));
        self.file = Some(BufWriter::new(open_live(&self.path, self.mode)?));
        self.prune()
    }

    fn rolled_path(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".");
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Rolled files of this rollover kind, oldest first, with their sort key.
    fn rolled(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Some(base) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Ok(Vec::new());
        };
        let prefix = format!("{base}.");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let key = match self.rollover {
                Rollover::Size { .. } => suffix.parse::<u64>().ok(),
                // YYYY-MM-DD-HH sorts as a number once the dashes are gone.
                Rollover::Hourly if is_hour_suffix(suffix) => suffix.replace('-', "").parse().ok(),
                _ => None,
            };
            if let Some(key) = key {
                found.push((key, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    fn prune(&self) -> io::Result<()> {
        if self.max_rolls == 0 {
            return Ok(());
        }
        let rolled = self.rolled()?;
        let excess = rolled.len().saturating_sub(self.max_rolls as usize);
        for (_, path) in rolled.into_iter().take(excess) {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

fn open_live(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(path)
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(buf, OffsetDateTime::now_utc())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn at(hour: u8) -> OffsetDateTime {
        time::macros::datetime!(2026-12-07 00:00 UTC)
            .replace_hour(hour)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| {
                e.unwrap_or_else(|e| panic!("{e}"))
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        n.sort();
        n
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn size_rolls_to_increasing_numbers_and_keeps_max_rolls() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("ecs-agent.log");
        let mut f = RollingFile::open(&path, Rollover::Size { max_bytes: 10 }, 1, 0o600)
            .unwrap_or_else(|e| panic!("{e}"));
        for line in ["line-1\n", "line-2\n", "line-3\n", "line-4\n", "line-5\n"] {
            f.write_at(line.as_bytes(), at(1))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        // Each file reaches 10 bytes with its second line and the next write rolls it: .1 (lines
        // 1 and 2), then .2 (lines 3 and 4), which leaves one roll too many, the oldest.
        assert_eq!(names(tmp.path()), ["ecs-agent.log", "ecs-agent.log.2"]);
        assert_eq!(
            read(&tmp.path().join("ecs-agent.log.2")),
            "line-3\nline-4\n"
        );
        assert_eq!(read(&path), "line-5\n");
    }

    #[test]
    fn size_continues_numbering_after_a_restart() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("a.log");
        std::fs::write(tmp.path().join("a.log.7"), "old\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, "0123456789\n").unwrap_or_else(|e| panic!("{e}"));
        let mut f = RollingFile::open(&path, Rollover::Size { max_bytes: 10 }, 0, 0o600)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_at(b"new\n", at(1))
            .unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(tmp.path()), ["a.log", "a.log.7", "a.log.8"]);
        assert_eq!(read(&tmp.path().join("a.log.8")), "0123456789\n");
        assert_eq!(read(&path), "new\n");
    }

    #[test]
    fn hourly_names_the_file_after_the_hour_it_covers() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("audit.log");
        let mut f =
            RollingFile::open(&path, Rollover::Hourly, 2, 0o600).unwrap_or_else(|e| panic!("{e}"));
        for (hour, line) in [(5, "a\n"), (5, "b\n"), (6, "c\n"), (8, "d\n"), (9, "e\n")] {
            f.write_at(line.as_bytes(), at(hour))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            names(tmp.path()),
            [
                "audit.log",
                "audit.log.2026-12-07-06",
                "audit.log.2026-12-07-08"
            ]
        );
        assert_eq!(read(&tmp.path().join("audit.log.2026-12-07-06")), "c\n");
        assert_eq!(read(&path), "e\n");
    }

    #[test]
    fn never_keeps_one_file() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("x.log");
        let mut f =
            RollingFile::open(&path, Rollover::Never, 1, 0o600).unwrap_or_else(|e| panic!("{e}"));
        for hour in 0..5 {
            f.write_at(b"0123456789\n", at(hour))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(tmp.path()), ["x.log"]);
    }

    #[test]
    fn rolled_and_new_files_keep_the_mode() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("audit.log");
        let mut f = RollingFile::open(&path, Rollover::Size { max_bytes: 1 }, 0, 0o600)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_at(b"a\n", at(1)).unwrap_or_else(|e| panic!("{e}"));
        f.write_at(b"b\n", at(1)).unwrap_or_else(|e| panic!("{e}"));
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        for name in ["audit.log", "audit.log.1"] {
            let mode = std::fs::metadata(tmp.path().join(name))
                .unwrap_or_else(|e| panic!("{e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn other_files_in_the_directory_are_left_alone() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for other in ["a.log.old", "a.log.2026-12-07-01", "b.log.1"] {
            std::fs::write(tmp.path().join(other), "x").unwrap_or_else(|e| panic!("{e}"));
        }
        let path = tmp.path().join("a.log");
        let mut f = RollingFile::open(&path, Rollover::Size { max_bytes: 1 }, 1, 0o600)
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            f.write_at(b"z\n", at(1)).unwrap_or_else(|e| panic!("{e}"));
        }
        f.flush().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            names(tmp.path()),
            [
                "a.log",
                "a.log.2",
                "a.log.2026-12-07-01",
                "a.log.old",
                "b.log.1"
            ]
        );
    }

    #[test]
    fn hour_suffixes() {
        assert_eq!(hour_suffix(hour_of(at(7))), "2026-12-07-07");
        assert!(is_hour_suffix("2026-12-07-07"));
        assert!(!is_hour_suffix("2026-12-07"));
        assert!(!is_hour_suffix("12"));
    }
}
