//! Full disks and failed writes, on real file systems: every failed write is an error naming the file
//! with the system's reason, leaves no partial or temporary file, and leaves a sweep's completed runs
//! valid (a resume elsewhere keeps them and ends equal to an undisturbed sweep). A small tmpfs mounted
//! by the test gives a real ENOSPC and a read-only remount EROFS (both need root; skipped visibly
//! otherwise); a file-size limit (`ulimit -f`, RLIMIT_FSIZE) gives EFBIG for any user.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vanish() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("vanish"));
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    cmd
}

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after a visible SKIPPED line) where this process cannot mount.
    fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            common::skip("mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            common::skip("`mount -t tmpfs` failed (no CAP_SYS_ADMIN in this container?)");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount").args(["-o", "remount,ro"]).arg(self.path()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The failed command's message names a file under `dir` and `reason`; no temporary file is left, and
/// every JSON file that is there parses (nothing half-written under a real name).
fn assert_clean_failure(out: &Output, dir: &Path, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let named = format!("error: cannot write {}/", dir.display());
    assert!(err.contains(&named) && err.contains(reason), "expected `{named}…: {reason}` in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for (name, bytes) in common::files_under(dir) {
        assert!(!name.contains(".tmp"), "a temporary file was left behind: {name}");
        if name.ends_with(".json") {
            assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(), "{name} is half-written");
        }
    }
}

const SWEEP: &[&str] = &[
    "sweep",
    "--device",
    "cpu",
    "--depths",
    "1,3",
    "--activations",
    "sigmoid,relu",
    "--seeds",
    "2",
    "--samples",
    "200",
];

fn sweep_into(out: &Path) -> Output {
    vanish().args(SWEEP).arg("--out").arg(out).output().unwrap()
}

fn completed_runs(out: &Path) -> usize {
    common::files_under(&out.join("runs")).keys().filter(|n| n.ends_with(".json")).count()
}

fn copy_dir(from: &Path, to: &Path) {
    for (name, bytes) in common::files_under(from) {
        let dest: PathBuf = to.join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// A disk that fills up mid-sweep (96 kB: the manifest and some of the 8 run files fit): the error names
/// the run file, the runs written before it are intact, and resumed on a disk with room they are kept
/// (not recomputed) and the sweep ends with exactly the undisturbed sweep's outputs.
#[test]
fn a_full_disk_stops_a_sweep_cleanly_and_its_completed_runs_stay_valid() {
    let Some(disk) = Tmpfs::mount("96k") else { return };
    let out = disk.path().join("s");
    let failed = sweep_into(&out);
    assert_clean_failure(&failed, &out, "No space left on device");
    assert!(String::from_utf8_lossy(&failed.stderr).contains("/runs/"), "the run file is named");
    let done = completed_runs(&out);
    assert!((1..8).contains(&done), "{done} of 8 runs fit before the disk filled");

    let room = tempfile::tempdir().unwrap();
    let moved = room.path().join("s");
    copy_dir(&out, &moved);
    let resumed = sweep_into(&moved);
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{log}");
    assert!(!log.contains("warning"), "every run file written before the disk filled is valid:\n{log}");
    assert!(log.contains(&format!("resumed: {done} of 8 runs")), "{log}");
    let whole = room.path().join("whole");
    assert!(sweep_into(&whole).status.success());
    for name in ["runs.csv", "summary.json"] {
        assert_eq!(std::fs::read(moved.join(name)).unwrap(), std::fs::read(whole.join(name)).unwrap(), "{name}");
    }
}

/// `train --out` on a disk too small for its report, and `--save` on one too small for the weights.
#[test]
fn a_full_disk_stops_train_with_the_file_named_and_nothing_half_written() {
    let Some(disk) = Tmpfs::mount("64k") else { return };
    let out = disk.path().join("t");
    let failed =
        vanish().args(["train", "--device", "cpu", "--samples", "200", "--depth", "2", "--out"]).arg(&out).output();
    assert_clean_failure(&failed.unwrap(), &out, "No space left on device");

    let Some(tiny) = Tmpfs::mount("4k") else { return };
    let weights = tiny.path().join("w.safetensors");
    let failed = vanish().args(["train", "--device", "cpu", "--layers", "64,64", "--save"]).arg(&weights).output();
    assert_clean_failure(&failed.unwrap(), tiny.path(), "No space left on device");
    assert!(!weights.exists());
}

/// A destination that cannot be written is refused before any training, naming the flag, the path and
/// the system's reason, and nothing is written.
fn assert_refused_up_front(out: &Output, flag: &str, path: &Path, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let named = format!("error: {flag} {}: cannot write there", path.display());
    assert!(err.contains(&named) && err.contains(reason), "expected `{named}: {reason}` in:\n{err}");
    assert!(!err.contains("training ") && !err.contains("panicked"), "refused only after training began:\n{err}");
}

/// A folder that turned read-only (a remounted disk; permissions alone do not stop root): `--out`,
/// `--save` and a sweep's `--out` there are refused before any work.
#[test]
fn a_read_only_folder_is_refused_before_any_work() {
    let Some(disk) = Tmpfs::mount("1m") else { return };
    let out = disk.path().join("t");
    std::fs::create_dir(&out).unwrap();
    disk.remount_read_only();
    let failed = vanish().args(["train", "--device", "cpu", "--samples", "200", "--out"]).arg(&out).output();
    assert_refused_up_front(&failed.unwrap(), "--out", &out, "Read-only file system");
    let weights = disk.path().join("w.safetensors");
    let failed = vanish().args(["train", "--device", "cpu", "--samples", "200", "--save"]).arg(&weights).output();
    assert_refused_up_front(&failed.unwrap(), "--save", &weights, "Read-only file system");
    let sweep = disk.path().join("s");
    assert_refused_up_front(&sweep_into(&sweep), "--out", &sweep, "Read-only file system");
}

/// A file-size limit (any user): the write fails with EFBIG instead of SIGXFSZ killing the process.
#[test]
fn a_file_size_limit_is_a_clear_error_not_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    let mut cmd = vanish();
    cmd.args(["train", "--device", "cpu", "--layers", "64,64", "--save"]).arg(&weights);
    // SAFETY: setrlimit is async-signal-safe and only touches the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 8 * 1024, rlim_max: 8 * 1024 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        });
    }
    let failed = cmd.output().unwrap();
    assert_clean_failure(&failed, dir.path(), "File too large");
    assert!(!weights.exists());
}

/// A folder the process may not write into (EACCES) is refused before any work: as root, whom
/// permissions do not stop, the command runs as `nobody`; as any other user, the folder is made
/// read-only.
#[test]
fn a_folder_without_write_permission_is_refused_before_any_work() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.path().join("t");
    std::fs::create_dir(&out).unwrap();
    let mut cmd = vanish();
    cmd.args(["train", "--device", "cpu", "--samples", "200", "--out"]).arg(&out);
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // SAFETY: setgid and setuid are async-signal-safe and only change the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    assert_refused_up_front(&cmd.output().unwrap(), "--out", &out, "Permission denied");
    assert!(std::fs::read_dir(&out).unwrap().next().is_none(), "nothing was written");
}
