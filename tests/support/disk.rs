//! Small disks for the full-disk tests: tmpfs mounts, which need root.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A tmpfs of a given size mounted on a directory, unmounted when dropped.
pub struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mount a tmpfs of `size` (`4m`) on `dir`, made if need be. `None`, with the reason
    /// printed, when this process may not mount one: the test then says why and passes.
    pub fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        fs::create_dir_all(dir).unwrap();
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        if !mounted.status.success() {
            eprintln!(
                "skipped: `mount -t tmpfs` failed here: {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Fill what is left of the disk with `file`.
    pub fn fill(&self, file: &str) {
        let mut filler = fs::File::create(self.0.join(file)).unwrap();
        let chunk = vec![b'f'; 64 * 1024];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.write_all(b"f");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
