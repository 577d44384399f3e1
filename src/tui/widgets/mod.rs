//! What the views share on screen: the status bar and the capture's part
//! of it ([`status`]), the cursor of a scrolling list ([`list`]), and the
//! one-line text prompt that filters or searches ([`prompt`]).

pub mod list;
pub mod prompt;
pub mod status;
