//! What the process asks of the operating system.

/// A gateway holds one descriptor per device (and a simulator one per
/// simulated device): use the hard limit, not the default soft limit of 1024.
pub fn raise_fd_limit() {
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get()
        && soft < hard
        && let Err(e) = rlimit::Resource::NOFILE.set(hard, hard)
    {
        tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
    }
}
