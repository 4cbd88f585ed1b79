//! Container resolution. (being written)
