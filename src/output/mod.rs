//! Where results go: files written atomically (`atomic`), and the one rule for which destinations a
//! command may write (`destination`), checked before any work.

mod atomic;
pub mod destination;

pub use atomic::{WriteError, write_atomic, write_atomic_with, write_csv, write_json};
pub use destination::{Destination, DestinationError, FolderMarker, REPORT_FILES, check};
