//! `GET /blk/N`: sector N of the first virtio disk, if the machine has one.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::api::io::{Blk, SECTOR_SIZE};

use super::http::{SliceWriter, Status};

/// The disk, set once by [`open`] (null: none).
static DISK: AtomicPtr<Blk> = AtomicPtr::new(ptr::null_mut());

/// Open the first virtio disk on the calling core (its interrupt is routed here); a
/// machine without one serves `/blk/N` as 503. Returns the disk's size in sectors.
pub fn open() -> Option<u64> {
    let blk = Blk::open().ok()?;
    // Release pairs with the Acquire load in `read`: a reader sees the opened driver.
    DISK.store(ptr::from_ref(blk).cast_mut(), Ordering::Release);
    Some(blk.capacity())
}

/// Read sector `sector` into `body`: 503 without a disk, 404 past its end, 500 if the
/// device reports an error.
pub async fn read(sector: u64, body: &mut SliceWriter<'_>) -> Result<(), Status> {
    // Acquire pairs with the Release store in `open`.
    let disk = DISK.load(Ordering::Acquire);
    // SAFETY: non-null only as stored by `open`, from a `&'static Blk`.
    let Some(disk) = (unsafe { disk.as_ref() }) else {
        return Err(Status::Unavailable);
    };
    if sector >= disk.capacity() {
        return Err(Status::NotFound);
    }
    let mut sec = [0u8; SECTOR_SIZE];
    disk.read(sector, &mut sec)
        .await
        .map_err(|_| Status::InternalError)?;
    body.write_bytes(&sec).map_err(|_| Status::InternalError)
}
