//! `dflow profile`'s terminal flame graph: its state, the keys that change
//! it, and how it is drawn.
//!
//! Collection → state → render: the command sends [`Msg`]s (a new
//! [`Profile`], a new [`Status`], a key, a resize) into
//! [`FlameState::update`], and [`render`] draws a `&FlameState` into any
//! ratatui frame, so the view runs in tests on a `TestBackend`.
//!
//! The zoomed and the selected frames are remembered as paths of frames from
//! the root rather than node ids: a new profile rebuilds the tree, and a path
//! finds the same frames again (or their nearest remaining caller). What is
//! drawn, which frames fit in a column and where, is derived again from the
//! state for each render and each move, never stored.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::event::Frame as StackFrame;
use crate::profile::fold::{Folded, FrameKind, Profile, Roots, Weight};
use crate::profile::tree::{FlameTree, Node, NodeId};
use crate::tui::Input;
use crate::tui::widgets::prompt::{Edit, Prompt};
use crate::tui::widgets::status::{CaptureStatus, render_status_bar};

/// What the status bar says about the run. The command fills it: the view
/// knows the profile, not the sampler or the clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub hz: u32,
    /// `on-cpu`, `off-cpu` or `both` (`Mode::name`).
    pub mode: String,
    /// On-CPU samples so far.
    pub samples: u64,
    pub truncated_pct: f64,
    /// Lost samples (full maps or buffers), the clock, dflow's cost, notes.
    pub capture: CaptureStatus,
}

/// Everything that changes the view.
#[derive(Debug)]
pub enum Msg {
    /// The whole profile so far (not a delta): the trees are rebuilt from it.
    Profile(Profile),
    Status(Status),
    Key(KeyEvent),
    /// The terminal's size: moves skip frames too narrow to be drawn, so the
    /// state must know the width the view is drawn at.
    Resize(Size),
}

impl From<Input> for Msg {
    fn from(input: Input) -> Msg {
        match input {
            Input::Key(key) => Msg::Key(key),
            Input::Resize(size) => Msg::Resize(size),
        }
    }
}

pub use super::Action;
use super::{clock, counted, grouped};

/// What the flame view shows: the latest profile's tree and where the user
/// is in it. Changed only by [`FlameState::update`].
#[derive(Debug, Clone)]
pub struct FlameState {
    profile: Option<Profile>,
    /// Built from `profile` with the roots `per_thread` asks for.
    tree: FlameTree,
    size: Size,
    /// The frames from below the root to the zoomed frame; empty for `all`.
    zoom: Vec<StackFrame>,
    /// The same for the selected frame: the zoomed frame, one of its callees
    /// or one of its callers.
    selected: Vec<StackFrame>,
    /// The search and its prompt.
    search: Prompt,
    /// Icicle: the root on top, callees below.
    inverted: bool,
    per_thread: bool,
    help: bool,
    status: Status,
    /// A short answer to the last key (why it did nothing), until the next key.
    flash: Option<&'static str>,
}

/// Moves of the selection, named by the tree rather than by the arrows: which
/// arrow is which depends on the orientation.
#[derive(Debug, Clone, Copy)]
enum Move {
    Callee,
    Caller,
    Previous,
    Next,
}

impl FlameState {
    /// An empty view; `live` picks what it says until samples arrive.
    pub fn new(live: bool) -> FlameState {
        FlameState {
            profile: None,
            tree: FlameTree::new(&Folded {
                weight: Weight::Samples,
                stacks: Vec::new(),
            }),
            size: Size::new(80, 24),
            zoom: Vec::new(),
            selected: Vec::new(),
            search: Prompt::default(),
            inverted: false,
            per_thread: false,
            help: false,
            status: Status {
                capture: CaptureStatus {
                    live,
                    ..CaptureStatus::default()
                },
                ..Status::default()
            },
            flash: None,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Action {
        match msg {
            Msg::Profile(profile) => {
                self.profile = Some(profile);
                self.rebuild();
            }
            Msg::Status(status) => self.status = status,
            Msg::Resize(size) => self.size = size,
            Msg::Key(key) => return self.key(key),
        }
        Action::None
    }

    pub fn tree(&self) -> &FlameTree {
        &self.tree
    }

    /// Function names down to the zoomed frame (empty: not zoomed).
    pub fn zoomed(&self) -> Vec<&str> {
        function_names(&self.zoom)
    }

    /// Function names down to the selected frame, as last chosen (the frame
    /// drawn selected is the nearest of them the tree still has).
    pub fn selected(&self) -> Vec<&str> {
        function_names(&self.selected)
    }

    pub fn inverted(&self) -> bool {
        self.inverted
    }

    pub fn per_thread(&self) -> bool {
        self.per_thread
    }

    fn rebuild(&mut self) {
        let roots = if self.per_thread {
            Roots::Thread
        } else {
            Roots::Process
        };
        if let Some(profile) = &self.profile {
            self.tree = FlameTree::new(&profile.fold(roots));
        }
    }

    fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Release {
            self.flash = None;
        }
        match super::common_key(&key, self.search.is_open(), &mut self.help) {
            super::Common::Done(action) => return action,
            super::Common::Prompt { ctrl } => {
                self.prompt_key(key.code, ctrl);
                return Action::None;
            }
            super::Common::Own => {}
        }
        let (up, down) = if self.inverted {
            (Move::Caller, Move::Callee)
        } else {
            (Move::Callee, Move::Caller)
        };
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Up | KeyCode::Char('k') => self.step(up),
            KeyCode::Down | KeyCode::Char('j') => self.step(down),
            KeyCode::Left | KeyCode::Char('h') => self.step(Move::Previous),
            KeyCode::Right | KeyCode::Char('l') => self.step(Move::Next),
            KeyCode::Enter => {
                let view = self.view(self.size.width);
                self.zoom = self.place(view.selected);
            }
            // A kept search before the zoom, as the prompt promised
            // ("Esc clears"); Backspace zooms out and keeps it.
            KeyCode::Esc if !self.search.is_empty() => self.search.clear(),
            KeyCode::Esc | KeyCode::Backspace => {
                let view = self.view(self.size.width);
                if let Some(parent) = self.tree.node(view.zoom).parent {
                    self.zoom = self.place(parent);
                }
            }
            KeyCode::Home => self.zoom.clear(),
            KeyCode::Char('/') => self.search.open(),
            KeyCode::Char('n') => self.jump(true, false),
            KeyCode::Char('N') => self.jump(false, false),
            KeyCode::Char('t') => self.toggle_threads(),
            KeyCode::Char('i') => self.inverted = !self.inverted,
            KeyCode::Char('?') => self.help = true,
            _ => {}
        }
        Action::None
    }

    fn prompt_key(&mut self, code: KeyCode, ctrl: bool) {
        if self.search.key(code, ctrl) == Edit::Kept && !self.search.is_empty() {
            self.jump(true, true);
        }
    }

    fn step(&mut self, to: Move) {
        let view = self.view(self.size.width);
        let at = view.selected;
        let tree = &self.tree;
        let next = match to {
            Move::Caller => tree.node(at).parent,
            // The widest callee, the leftmost of equals: where the time went.
            Move::Callee => view
                .bars
                .iter()
                .filter(|b| tree.node(b.node).parent == Some(at))
                .max_by_key(|b| (tree.node(b.node).total, std::cmp::Reverse(b.x)))
                .map(|b| b.node),
            // Drawn frames at the same depth, left to right: siblings, then
            // the neighbours of other callers.
            Move::Previous | Move::Next => {
                let depth = tree.node(at).depth;
                let row: Vec<NodeId> = view
                    .bars
                    .iter()
                    .filter(|b| b.level == depth)
                    .map(|b| b.node)
                    .collect();
                row.iter().position(|&n| n == at).and_then(|i| match to {
                    Move::Previous => i.checked_sub(1).map(|i| row[i]),
                    _ => row.get(i + 1).copied(),
                })
            }
        };
        if let Some(next) = next {
            self.selected = self.place(next);
        }
    }

    /// Selects the next (or previous) drawn frame matching the search, left
    /// to right; with `stay`, a selected match stays selected.
    fn jump(&mut self, forward: bool, stay: bool) {
        if self.search.is_empty() {
            self.flash = Some("no search: / to search");
            return;
        }
        let view = self.view(self.size.width);
        let place = |b: &Bar| (b.x, b.level);
        let mut matches: Vec<&Bar> = view
            .bars
            .iter()
            .filter(|b| self.tree.is_match(b.node, self.search.text()))
            .collect();
        matches.sort_by_key(|b| place(b));
        let Some(current) = view.bars.iter().find(|b| b.node == view.selected) else {
            return;
        };
        if stay && matches.iter().any(|b| b.node == current.node) {
            return;
        }
        let here = place(current);
        let next = if forward {
            matches.iter().find(|b| place(b) > here).or(matches.first())
        } else {
            matches
                .iter()
                .rev()
                .find(|b| place(b) < here)
                .or(matches.last())
        };
        match next {
            Some(b) => self.selected = self.place(b.node),
            None => self.flash = Some("no match in view"),
        }
    }

    fn toggle_threads(&mut self) {
        if !self.profile.as_ref().is_some_and(Profile::has_threads) {
            self.flash = Some("no per-thread samples: profile with --per-thread");
            return;
        }
        self.per_thread = !self.per_thread;
        self.rebuild();
        self.zoom = self.remap(&self.zoom);
        self.selected = self.remap(&self.selected);
    }

    /// A place under the other roots (`comm-pid` ↔ `comm-pid/tid`): a
    /// process's place continues under its thread that has most of it.
    fn remap(&self, place: &[StackFrame]) -> Vec<StackFrame> {
        let Some((root, rest)) = place.split_first() else {
            return Vec::new();
        };
        let tree = &self.tree;
        let roots = &tree.node(FlameTree::ROOT).children;
        let under = |r: NodeId| {
            let mut moved = vec![tree.node(r).frame.clone()];
            moved.extend(rest.iter().cloned());
            moved
        };
        let exact = roots.iter().copied().find(|&r| tree.node(r).frame == *root);
        let new_root = if exact.is_some() {
            exact
        } else if self.per_thread {
            let prefix = format!("{}/", root.function);
            roots
                .iter()
                .copied()
                .filter(|&r| tree.node(r).frame.function.starts_with(&prefix))
                .max_by_key(|&r| {
                    let reached = resolve(tree, &under(r));
                    (tree.node(reached).depth, tree.node(r).total)
                })
        } else {
            // The thread id follows the last `/`: comms may hold one too
            // (`kworker/0:1`).
            let process = root.function.rsplit_once('/').map(|(p, _)| p);
            roots
                .iter()
                .copied()
                .find(|&r| Some(tree.node(r).frame.function.as_str()) == process)
        };
        new_root.map(under).unwrap_or_default()
    }

    fn place(&self, id: NodeId) -> Vec<StackFrame> {
        self.tree.path(id)[1..]
            .iter()
            .map(|&n| self.tree.node(n).frame.clone())
            .collect()
    }

    /// What a given width shows of the state.
    fn view(&self, width: u16) -> View {
        let tree = &self.tree;
        let zoom = resolve(tree, &self.zoom);
        let bars = layout(tree, zoom, width);
        let mut selected = resolve(tree, &self.selected);
        let related = tree.path(selected).contains(&zoom) || tree.path(zoom).contains(&selected);
        if !related {
            selected = zoom;
        }
        // A frame narrower than a column is stood for by its nearest drawn caller.
        while !bars.iter().any(|b| b.node == selected) {
            match tree.node(selected).parent {
                Some(parent) => selected = parent,
                None => break,
            }
        }
        View {
            zoom,
            selected,
            bars,
        }
    }
}

/// The node a place leads to, or its nearest caller the tree has. Frames,
/// not function names (`FlameTree::find_path`): two callees of one caller
/// may share a name (a static function in two libraries), and by name the
/// second could never be selected.
fn resolve(tree: &FlameTree, place: &[StackFrame]) -> NodeId {
    let mut at = FlameTree::ROOT;
    for frame in place {
        let next = tree.node(at).children.iter().copied();
        match next.clone().find(|&c| tree.node(c).frame == *frame) {
            Some(c) => at = c,
            None => break,
        }
    }
    at
}

fn function_names(place: &[StackFrame]) -> Vec<&str> {
    place.iter().map(|f| f.function.as_str()).collect()
}

#[derive(Debug)]
struct View {
    zoom: NodeId,
    selected: NodeId,
    bars: Vec<Bar>,
}

/// A frame as drawn: its level (depth in the tree) and columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bar {
    node: NodeId,
    level: usize,
    x: u16,
    width: u16,
}

/// The frames drawn at `width` columns when zoomed into `zoom`: its callers
/// as full-width bars, then it and its callees scaled to the width. A frame
/// whose edges round to the same column is not drawn, nor are its callees.
/// Bars come level by level left to right (a depth-first walk keeps the
/// order within each level).
fn layout(tree: &FlameTree, zoom: NodeId, width: u16) -> Vec<Bar> {
    let mut bars = Vec::new();
    let total = tree.node(zoom).total;
    if width == 0 || total == 0 {
        return bars;
    }
    for id in tree.path(zoom) {
        if id != zoom {
            bars.push(Bar {
                node: id,
                level: tree.node(id).depth,
                x: 0,
                width,
            });
        }
    }
    // Edges from value offsets, not widths summed, so rounding never drifts
    // and callees stay within their caller.
    let column = |offset: u64| {
        let scaled = u128::from(offset) * u128::from(width) / u128::from(total);
        u16::try_from(scaled).unwrap_or(width)
    };
    let mut todo = vec![(zoom, 0u64)];
    while let Some((id, start)) = todo.pop() {
        let node = tree.node(id);
        let (x, end) = (column(start), column(start + node.total));
        if end == x {
            continue;
        }
        bars.push(Bar {
            node: id,
            level: node.depth,
            x,
            width: end - x,
        });
        // Callees from the caller's left edge, its self time at the right;
        // pushed last first so they are walked left to right.
        let mut offset = start + node.total - node.self_value;
        for &child in node.children.iter().rev() {
            offset -= tree.node(child).total;
            todo.push((child, offset));
        }
    }
    bars
}

/// Draws the view. Takes the state by reference: drawing changes nothing.
pub fn render(state: &FlameState, frame: &mut Frame) {
    let area = frame.area();
    let [flame, info, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let view = state.view(flame.width);
    if state.tree.is_empty() {
        let text = if state.status.capture.live {
            "waiting for samples…"
        } else {
            "no samples"
        };
        let middle = Rect {
            y: flame.y + flame.height / 2,
            height: flame.height.min(1),
            ..flame
        };
        frame.render_widget(Paragraph::new(text).centered(), middle);
    } else {
        frame.render_widget(
            FlameView {
                tree: &state.tree,
                bars: &view.bars,
                selected: view.selected,
                search: state.search.text(),
                inverted: state.inverted,
            },
            flame,
        );
    }
    if state.search.is_open() {
        let share = search_share(state, &view);
        state
            .search
            .render(frame, info, &format!("{share:.1}% of view"));
    } else if !state.tree.is_empty() {
        frame.render_widget(Paragraph::new(selected_line(state, &view)), info);
    }
    let parts = status_parts(state, &view)
        .into_iter()
        .map(|(importance, text)| (importance, Span::raw(text)))
        .collect();
    render_status_bar(frame, status, parts);
    if state.help {
        render_help(state, frame, area);
    }
}

struct FlameView<'a> {
    tree: &'a FlameTree,
    bars: &'a [Bar],
    selected: NodeId,
    search: &'a str,
    inverted: bool,
}

impl Widget for FlameView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let rows = usize::from(area.height);
        let deepest = self.bars.iter().map(|b| b.level).max();
        let (Some(deepest), true) = (deepest, rows > 0) else {
            return;
        };
        let at = self.bars.iter().find(|b| b.node == self.selected);
        let first = first_level(at.map_or(0, |b| b.level), deepest, rows);
        for bar in self.bars {
            let Some(row) = bar.level.checked_sub(first).filter(|&r| r < rows) else {
                continue;
            };
            let row = row as u16; // < rows, a u16
            let y = if self.inverted {
                area.top() + row
            } else {
                area.bottom() - 1 - row
            };
            let node = self.tree.node(bar.node);
            let matched = !self.search.is_empty() && self.tree.is_match(bar.node, self.search);
            let style = bar_style(node, bar.node == self.selected, matched);
            draw_bar(
                buf,
                area.x + bar.x,
                y,
                bar.width,
                &node.frame.function,
                style,
            );
        }
    }
}

/// The first level shown: 0 when the whole depth fits, else low enough to
/// show the selected level and up to two levels of its callees.
fn first_level(selected: usize, deepest: usize, rows: usize) -> usize {
    if deepest < rows {
        return 0;
    }
    let lookahead = 2.min(rows - 1);
    (selected + 1 + lookahead)
        .saturating_sub(rows)
        .min(deepest + 1 - rows)
}

/// One frame: coloured cells and the name as far as it fits. The last column
/// stays blank to part neighbours of the same colour (inferno leaves a
/// pixel); 1–2 columns are too few for any name.
fn draw_bar(buf: &mut Buffer, x: u16, y: u16, width: u16, name: &str, style: Style) {
    let drawn = if width >= 2 { width - 1 } else { width };
    buf.set_style(Rect::new(x, y, drawn, 1), style);
    if width < 3 {
        return;
    }
    let room = usize::from(drawn);
    if Span::raw(name).width() <= room {
        buf.set_stringn(x, y, name, room, style);
    } else {
        let (end, _) = buf.set_stringn(x, y, name, room - 1, style);
        buf.set_string(end, y, "…", style);
    }
}

/// Search matches in magenta, which no frame kind uses at that strength.
const MATCH: Color = Color::Indexed(201);

fn bar_style(node: &Node, selected: bool, matched: bool) -> Style {
    let mut style = Style::new()
        .fg(Color::Black)
        .bg(if matched { MATCH } else { colour(node) });
    if matched {
        style = style.add_modifier(Modifier::BOLD);
    }
    if selected {
        style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
    }
    style
}

/// The colour family by frame kind, a member by a hash of the name so a
/// function keeps its colour from one refresh (and one run) to the next.
/// xterm's 256 colours rather than RGB: they show the same over ssh and in
/// terminals without true colour.
fn colour(node: &Node) -> Color {
    const USER: [u8; 9] = [196, 202, 208, 214, 220, 203, 209, 215, 221];
    const LIBRARY: [u8; 6] = [74, 75, 80, 110, 116, 117];
    const KERNEL: [u8; 4] = [130, 136, 137, 131];
    const PROCESS: [u8; 2] = [246, 250];
    const DFLOW: [u8; 1] = [182];
    let palette: &[u8] = match node.kind {
        FrameKind::User => &USER,
        FrameKind::Library => &LIBRARY,
        FrameKind::Kernel => &KERNEL,
        FrameKind::Process => &PROCESS,
        FrameKind::Dflow => &DFLOW,
    };
    let hash = fnv1a(node.frame.function.as_bytes());
    Color::Indexed(palette[(hash % palette.len() as u64) as usize])
}

/// FNV-1a: `std`'s hashers do not promise the same output across releases.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Numbers first, so a long (C++) name is what gets cut.
fn selected_line(state: &FlameState, view: &View) -> Line<'static> {
    let tree = &state.tree;
    let node = tree.node(view.selected);
    let mut numbers = format!(
        "{} · {:.1}% of all",
        weighed(tree.weight, node.total),
        pct(node.total, tree.total())
    );
    let zoom = tree.node(view.zoom);
    if view.zoom != FlameTree::ROOT && tree.path(view.selected).contains(&view.zoom) {
        numbers.push_str(&format!(" · {:.1}% of zoom", pct(node.total, zoom.total)));
    }
    let mut spans = vec![
        Span::raw(numbers),
        Span::raw(" · "),
        Span::styled(
            node.frame.function.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    // The pseudo-modules of roots and dflow's frames say nothing.
    if !matches!(node.kind, FrameKind::Process | FrameKind::Dflow) {
        spans.push(Span::styled(
            format!(" {}", node.frame.module),
            Style::new().add_modifier(Modifier::DIM),
        ));
    }
    Line::from(spans)
}

/// A frame's value with its unit: `1 sample`, `12,345 samples`, `850 µs`.
fn weighed(weight: Weight, value: u64) -> String {
    match weight {
        Weight::Samples => counted(value, "sample", "samples"),
        Weight::Micros => format!("{} {}", grouped(value), weight.unit()),
    }
}

/// The share of the zoomed frame's value under frames matching the search.
fn search_share(state: &FlameState, view: &View) -> f64 {
    let tree = &state.tree;
    pct(
        tree.matched(view.zoom, state.search.text()),
        tree.node(view.zoom).total,
    )
}

/// `99 Hz · on-cpu · 12,345 samples · 0 lost · …`, by importance: what does
/// not fit goes, the least telling first.
fn status_parts(state: &FlameState, view: &View) -> Vec<(u8, String)> {
    let s = &state.status.capture;
    let mut parts: Vec<(u8, String)> = Vec::new();
    if let Some(flash) = state.flash {
        parts.push((9, flash.to_owned()));
    }
    if let Some(note) = &s.note {
        parts.push((9, note.clone()));
    }
    if !state.search.is_empty() && !state.search.is_open() {
        let share = search_share(state, view);
        parts.push((9, format!("/{} {share:.1}% of view", state.search.text())));
    }
    parts.push((4, format!("{} Hz", state.status.hz)));
    parts.push((4, state.status.mode.clone()));
    parts.push((8, counted(state.status.samples, "sample", "samples")));
    let lost = if s.lost > 0 { 7 } else { 2 };
    parts.push((lost, format!("{} lost", grouped(s.lost))));
    let truncated_pct = state.status.truncated_pct;
    let truncated = if truncated_pct >= 10.0 { 6 } else { 3 };
    parts.push((truncated, format!("{truncated_pct:.1}% truncated")));
    if state.per_thread {
        parts.push((6, "per thread".to_owned()));
    }
    // dflow's own cost outlasts the rate, the mode and the help (the
    // rightmost of equals goes first): those are known without the view.
    if let Some(own) = s.own_usage() {
        parts.push((5, own));
    } else {
        parts.push((6, "replay".to_owned()));
    }
    parts.push((7, clock(s.elapsed)));
    parts.push((5, "? help".to_owned()));
    parts
}

fn render_help(state: &FlameState, frame: &mut Frame, area: Rect) {
    let (callee, caller) = if state.inverted {
        ("↓ j", "↑ k")
    } else {
        ("↑ k", "↓ j")
    };
    let keys = [
        ("q  Ctrl-C", "quit"),
        (callee, "to the widest callee"),
        (caller, "to the caller"),
        ("← h  → l", "previous / next frame on the row"),
        ("Enter", "zoom into the selected frame"),
        ("Esc  Backspace", "zoom out one level (Esc: a search first)"),
        ("Home", "zoom out to all"),
        ("/", "search; Enter keeps it, Esc clears it"),
        ("n  N", "next / previous match"),
        ("t", "per-thread / per-process roots"),
        (
            "i",
            if state.inverted {
                "flame graph (root at the bottom)"
            } else {
                "icicle (root on top)"
            },
        ),
        ("?", "close this help"),
    ];
    super::render_help(
        frame,
        area,
        " dflow profile: keys ",
        62,
        15,
        &keys,
        &[
            " program red–yellow · libraries blue · kernel brown",
            " processes grey · all, [truncated] violet · match magenta",
        ],
    );
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests;
