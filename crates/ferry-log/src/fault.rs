//! [`FaultyDisk`]: an in-memory [`Disk`] that models what survives a power cut, for crash tests.
//!
//! Each file keeps the bytes the process sees and the bytes that are durable (as of its last
//! fsync); each directory keeps the names that are durable (as of its last directory fsync).
//! [`FaultyDisk::crash`] throws away everything not durable, optionally keeping a torn prefix of
//! unsynced appends, as a disk does. I/O can be made to fail after a countdown (a power cut at
//! that call, with a torn write if the call was a write) or on the next fsyncs.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::disk::{Disk, DiskFile};

#[derive(Debug, Default)]
struct FileData {
    current: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct MemFile {
    data: Mutex<FileData>,
}

#[derive(Debug)]
struct Control {
    /// I/O calls left before the power cut; `None` = never.
    ops_left: Option<u64>,
    /// The next this-many fsyncs fail (and lose nothing else).
    failing_fsyncs: u32,
    /// While set, a write that would grow a file lands partly, then fails as on a full disk.
    full: bool,
    /// Successful file fsyncs so far.
    file_fsyncs: u64,
    /// Bytes returned by reads so far.
    bytes_read: u64,
    rng: u64,
}

impl Control {
    fn next_rand(&mut self) -> u64 {
        // xorshift64*: deterministic per seed, which is all a crash test needs.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Counts one I/O call; `Err` once the power is cut. `Ok(true)` means this call is the
    /// one the power fails in (a write may tear).
    fn tick(&mut self) -> io::Result<bool> {
        match self.ops_left {
            None => Ok(false),
            Some(0) => Err(power_cut()),
            Some(n) => {
                self.ops_left = Some(n - 1);
                Ok(n == 1)
            }
        }
    }
}

fn power_cut() -> io::Error {
    io::Error::other("injected power cut")
}

#[derive(Debug, Default)]
struct Namespace {
    files: HashMap<PathBuf, Arc<MemFile>>,
    durable: HashMap<PathBuf, Arc<MemFile>>,
}

/// An in-memory disk that can lose unsynced data, tear writes and fail calls on demand.
#[derive(Debug)]
pub struct FaultyDisk {
    ns: Mutex<Namespace>,
    ctl: Arc<Mutex<Control>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

impl FaultyDisk {
    /// A new empty disk; `seed` drives the torn-write lengths.
    pub fn new(seed: u64) -> FaultyDisk {
        FaultyDisk {
            ns: Mutex::new(Namespace::default()),
            ctl: Arc::new(Mutex::new(Control {
                ops_left: None,
                failing_fsyncs: 0,
                full: false,
                file_fsyncs: 0,
                bytes_read: 0,
                rng: seed | 1,
            })),
        }
    }

    /// Cuts the power after `ops` more I/O calls: the call that reaches zero fails (a write
    /// landing partly), and every later call fails until [`FaultyDisk::crash`].
    pub fn fail_after(&self, ops: u64) {
        lock(&self.ctl).ops_left = Some(ops);
    }

    /// Makes the next `n` fsyncs (file or directory) fail without cutting the power.
    pub fn fail_next_fsyncs(&self, n: u32) {
        lock(&self.ctl).failing_fsyncs = n;
    }

    /// Fills the disk (`true`) or frees room on it (`false`): while full, every write that
    /// would make a file longer writes a random part of the growth, then fails with
    /// `StorageFull`, as `write(2)` does with ENOSPC.
    pub fn set_full(&self, full: bool) {
        lock(&self.ctl).full = full;
    }

    /// True once a countdown set with [`FaultyDisk::fail_after`] has run out.
    pub fn power_is_cut(&self) -> bool {
        lock(&self.ctl).ops_left == Some(0)
    }

    /// Simulates a power cut and restart: names not made durable by a directory fsync vanish,
    /// files fall back to their fsynced bytes, and when `torn` is set each file keeps a random
    /// prefix of its unsynced appended bytes (sometimes zeroed, as when the size reached the
    /// disk but the data did not). Handles opened before the crash no longer affect the disk.
    pub fn crash(&self, torn: bool) {
        let mut ctl = lock(&self.ctl);
        let mut ns = lock(&self.ns);
        let mut files = HashMap::new();
        for (path, file) in &ns.durable {
            let data = lock(&file.data);
            let mut bytes = data.durable.clone();
            if torn && data.current.starts_with(&data.durable) {
                let extra = data.current.len() - data.durable.len();
                if extra > 0 {
                    let keep = (ctl.next_rand() % (extra as u64 + 1)) as usize;
                    let start = data.durable.len();
                    if ctl.next_rand().is_multiple_of(4) {
                        bytes.resize(start + keep, 0);
                    } else {
                        bytes.extend_from_slice(&data.current[start..start + keep]);
                    }
                }
            }
            let fresh = MemFile { data: Mutex::new(FileData { current: bytes.clone(), durable: bytes }) };
            files.insert(path.clone(), Arc::new(fresh));
        }
        ns.durable = files.clone();
        ns.files = files;
        ctl.ops_left = None;
        ctl.failing_fsyncs = 0;
    }

    /// Flips one bit of a file, in both its visible and durable bytes (a bad sector).
    pub fn flip_bit(&self, path: &Path, byte: u64, bit: u8) -> io::Result<()> {
        let ns = lock(&self.ns);
        let file = ns.files.get(path).ok_or_else(|| not_found(path))?;
        let mut guard = lock(&file.data);
        let data = &mut *guard;
        for bytes in [&mut data.current, &mut data.durable] {
            if let Some(b) = bytes.get_mut(byte as usize) {
                *b ^= 1 << (bit % 8);
            }
        }
        Ok(())
    }

    /// Successful file fsyncs (not directory fsyncs) since the disk was made.
    pub fn file_fsyncs(&self) -> u64 {
        lock(&self.ctl).file_fsyncs
    }

    /// Bytes read from files since the disk was made.
    pub fn bytes_read(&self) -> u64 {
        lock(&self.ctl).bytes_read
    }

    /// The bytes of a file as the process sees them.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let ns = lock(&self.ns);
        ns.files.get(path).map(|f| lock(&f.data).current.clone())
    }

    fn tick(&self) -> io::Result<bool> {
        lock(&self.ctl).tick()
    }
}

#[derive(Debug)]
struct Handle {
    file: Arc<MemFile>,
    ctl: Arc<Mutex<Control>>,
}

impl DiskFile for Handle {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        {
            let mut ctl = lock(&self.ctl);
            ctl.tick()?;
            ctl.bytes_read += buf.len() as u64;
        }
        let data = lock(&self.file.data);
        let start = pos as usize;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= data.current.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"))?;
        buf.copy_from_slice(&data.current[start..end]);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut data = lock(&self.file.data);
        let start = pos as usize;
        let (last, full, keep) = {
            let mut ctl = lock(&self.ctl);
            let last = ctl.tick()?;
            let full = ctl.full && start + buf.len() > data.current.len();
            let fits = data.current.len().saturating_sub(start).min(buf.len());
            let keep = if last {
                (ctl.next_rand() % (buf.len() as u64 + 1)) as usize
            } else if full {
                fits + (ctl.next_rand() % (buf.len() - fits) as u64) as usize
            } else {
                buf.len()
            };
            (last, full, keep)
        };
        if data.current.len() < start + keep {
            data.current.resize(start + keep, 0);
        }
        data.current[start..start + keep].copy_from_slice(&buf[..keep]);
        if last {
            Err(power_cut())
        } else if full {
            Err(io::Error::new(io::ErrorKind::StorageFull, "injected full disk"))
        } else {
            Ok(())
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        {
            let mut ctl = lock(&self.ctl);
            ctl.tick()?;
            if ctl.failing_fsyncs > 0 {
                ctl.failing_fsyncs -= 1;
                return Err(io::Error::other("injected fsync failure"));
            }
            ctl.file_fsyncs += 1;
        }
        let mut data = lock(&self.file.data);
        data.durable = data.current.clone();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        lock(&self.ctl).tick()?;
        Ok(lock(&self.file.data).current.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        lock(&self.ctl).tick()?;
        lock(&self.file.data).current.resize(len as usize, 0);
        Ok(())
    }
}

impl Disk for FaultyDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        // Directories are implicit: a file's parent exists once the file does.
        self.tick().map(|_| ())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.tick()?;
        let ns = lock(&self.ns);
        Ok(ns
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn DiskFile>> {
        self.tick()?;
        let mut ns = lock(&self.ns);
        let file = match ns.files.get(path) {
            Some(f) => f.clone(),
            None if create => {
                let f = Arc::new(MemFile::default());
                ns.files.insert(path.to_path_buf(), f.clone());
                f
            }
            None => return Err(not_found(path)),
        };
        Ok(Box::new(Handle { file, ctl: self.ctl.clone() }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.tick()?;
        Ok(lock(&self.ns).files.contains_key(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.tick()?;
        let mut ns = lock(&self.ns);
        let file = ns.files.remove(from).ok_or_else(|| not_found(from))?;
        ns.files.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.tick()?;
        let mut ns = lock(&self.ns);
        ns.files.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.tick()?;
        let mut ns = lock(&self.ns);
        ns.files.retain(|p, _| !p.starts_with(dir));
        ns.durable.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        {
            let mut ctl = lock(&self.ctl);
            ctl.tick()?;
            if ctl.failing_fsyncs > 0 {
                ctl.failing_fsyncs -= 1;
                return Err(io::Error::other("injected fsync failure"));
            }
        }
        let mut ns = lock(&self.ns);
        ns.durable.retain(|p, _| p.parent() != Some(dir));
        let entries: Vec<_> = ns
            .files
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, f)| (p.clone(), f.clone()))
            .collect();
        ns.durable.extend(entries);
        Ok(())
    }
}
