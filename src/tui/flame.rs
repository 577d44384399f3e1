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

use std::time::Duration;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::event::Frame as StackFrame;
use crate::profile::fold::{Folded, FrameKind, Profile, Roots, Weight};
use crate::profile::tree::{FlameTree, Node, NodeId};

/// What the status bar says about the run. The command fills it: the view
/// knows the profile, not the sampler or the clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub hz: u32,
    /// `on-cpu`, `off-cpu` or `both` (`Mode::name`).
    pub mode: String,
    /// On-CPU samples so far.
    pub samples: u64,
    /// Samples the kernel could not hand over (full maps or buffers).
    pub lost: u64,
    pub truncated_pct: f64,
    /// dflow's own cost, shown while live.
    pub self_cpu_pct: f64,
    pub self_rss_bytes: u64,
    /// Time sampled so far, or the length of a replayed session.
    pub elapsed: Duration,
    /// False when replaying a session.
    pub live: bool,
    /// Something the user should know, such as `process 1234 exited`.
    pub note: Option<String>,
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

impl Msg {
    /// The message for a terminal event, if the view cares about it.
    pub fn from_event(event: Event) -> Option<Msg> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
            Event::Resize(width, height) => Some(Msg::Resize(Size::new(width, height))),
            _ => None,
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
    search: String,
    /// The search prompt is open: keys edit `search`.
    prompt: bool,
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
            search: String::new(),
            prompt: false,
            inverted: false,
            per_thread: false,
            help: false,
            status: Status {
                live,
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
        match super::common_key(&key, self.prompt, &mut self.help) {
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
            KeyCode::Char('/') => self.prompt = true,
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
        match code {
            KeyCode::Esc => {
                self.prompt = false;
                self.search.clear();
            }
            KeyCode::Enter => {
                self.prompt = false;
                if !self.search.is_empty() {
                    self.jump(true, true);
                }
            }
            KeyCode::Backspace => {
                self.search.pop();
            }
            KeyCode::Char('u') if ctrl => self.search.clear(),
            KeyCode::Char(c) if !ctrl => self.search.push(c),
            _ => {}
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
            .filter(|b| self.tree.is_match(b.node, &self.search))
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
        let text = if state.status.live {
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
                search: &state.search,
                inverted: state.inverted,
            },
            flame,
        );
    }
    if state.prompt {
        let prompt = format!("/{}", state.search);
        let share = search_share(state, &view);
        let line = Line::from(vec![
            Span::raw(prompt.clone()),
            Span::styled(
                format!("   {share:.1}% of view · Enter keeps · Esc clears"),
                Style::new().add_modifier(Modifier::DIM),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), info);
        let end = u16::try_from(Span::raw(prompt).width()).unwrap_or(u16::MAX);
        frame.set_cursor_position((info.x.saturating_add(end).min(info.right()), info.y));
    } else if !state.tree.is_empty() {
        frame.render_widget(Paragraph::new(selected_line(state, &view)), info);
    }
    let parts = status_parts(state, &view)
        .into_iter()
        .map(|(importance, text)| (importance, Span::raw(text)))
        .collect();
    super::render_status_bar(frame, status, parts);
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
        tree.matched(view.zoom, &state.search),
        tree.node(view.zoom).total,
    )
}

/// `99 Hz · on-cpu · 12,345 samples · 0 lost · …`, by importance: what does
/// not fit goes, the least telling first.
fn status_parts(state: &FlameState, view: &View) -> Vec<(u8, String)> {
    let s = &state.status;
    let mut parts: Vec<(u8, String)> = Vec::new();
    if let Some(flash) = state.flash {
        parts.push((9, flash.to_owned()));
    }
    if let Some(note) = &s.note {
        parts.push((9, note.clone()));
    }
    if !state.search.is_empty() && !state.prompt {
        let share = search_share(state, view);
        parts.push((9, format!("/{} {share:.1}% of view", state.search)));
    }
    parts.push((4, format!("{} Hz", s.hz)));
    parts.push((4, s.mode.clone()));
    parts.push((8, counted(s.samples, "sample", "samples")));
    let lost = if s.lost > 0 { 7 } else { 2 };
    parts.push((lost, format!("{} lost", grouped(s.lost))));
    let truncated = if s.truncated_pct >= 10.0 { 6 } else { 3 };
    parts.push((truncated, format!("{:.1}% truncated", s.truncated_pct)));
    if state.per_thread {
        parts.push((6, "per thread".to_owned()));
    }
    // dflow's own cost outlasts the rate, the mode and the help (the
    // rightmost of equals goes first): those are known without the view.
    if s.live {
        parts.push((5, super::own_usage(s.self_cpu_pct, s.self_rss_bytes)));
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
mod tests {
    use std::sync::Arc;

    use ratatui::crossterm::event::KeyModifiers;

    use super::*;
    use crate::event::{Process, ProcessRef, Sample};
    use crate::profile::fold::{self, Mode};

    const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

    fn process(pid: u32, comm: &str) -> ProcessRef {
        Arc::new(Process {
            exe: format!("/usr/bin/{comm}"),
            ..Process::bare(pid, comm)
        })
    }

    /// A frame by name: which names are libc's and the kernel's is fixed here.
    fn frame(name: &str, exe: &str) -> StackFrame {
        let (module, kernel) = match name {
            fold::TRUNCATED => return fold::pseudo_frame(fold::TRUNCATED, fold::DFLOW_MODULE),
            "__libc_start_main" | "clone3" | "start_thread" | "malloc" | "memcpy" | "write"
            | "poll" => (LIBC, false),
            "entry_SYSCALL_64" | "do_syscall_64" | "ksys_write" | "vfs_write" | "do_sys_poll" => {
                ("kernel", true)
            }
            _ => (exe, false),
        };
        StackFrame {
            function: name.to_owned(),
            module: module.to_owned(),
            kernel,
        }
    }

    fn sample(p: &ProcessRef, tid: u32, stack: &str, count: u64) -> Sample {
        Sample {
            ts_ns: 0,
            process: p.clone(),
            tid: Some(tid),
            off_cpu: false,
            stack: fold::stack(stack.split(';').map(|n| frame(n, &p.exe)).collect()),
            count,
            blocked_ns: 0,
        }
    }

    /// Two threads of `app` (main and a worker), a little `logger`, a
    /// write into the kernel, libc, and a stack frame pointers lost.
    fn samples() -> Vec<Sample> {
        let app = process(4242, "app");
        let logger = process(77, "logger");
        let main = "_start;__libc_start_main;main;run;handle";
        let worker = "clone3;start_thread;worker_loop";
        let write = "write;entry_SYSCALL_64;do_syscall_64;ksys_write";
        vec![
            sample(&app, 4242, &format!("{main};parse_request"), 30),
            sample(&app, 4242, &format!("{main};compute_checksum"), 25),
            sample(&app, 4242, &format!("{main};render_page;malloc"), 10),
            sample(&app, 4242, &format!("{main};render_page"), 8),
            sample(
                &app,
                4242,
                &format!("{main};render_page;{write};vfs_write"),
                12,
            ),
            sample(&app, 4243, &format!("{worker};compute_checksum"), 15),
            sample(&app, 4243, &format!("{worker};flush_queue;{write}"), 6),
            sample(&app, 4243, "[truncated];memcpy", 5),
            sample(
                &logger,
                77,
                "main;poll;entry_SYSCALL_64;do_syscall_64;do_sys_poll",
                4,
            ),
        ]
    }

    fn profile(samples: &[Sample]) -> Profile {
        let mut p = Profile::new(Mode::ON_CPU, 99);
        p.extend(samples);
        p
    }

    fn status() -> Status {
        Status {
            hz: 99,
            mode: "on-cpu".to_owned(),
            samples: 115,
            lost: 0,
            truncated_pct: 4.3,
            self_cpu_pct: 0.4,
            self_rss_bytes: 38 << 20,
            elapsed: Duration::from_secs(12),
            live: true,
            note: None,
        }
    }

    fn state(width: u16, height: u16) -> FlameState {
        let mut s = FlameState::new(true);
        s.update(Msg::Resize(Size::new(width, height)));
        s.update(Msg::Profile(profile(&samples())));
        s.update(Msg::Status(status()));
        s
    }

    fn press(s: &mut FlameState, code: KeyCode) -> Action {
        s.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn keys(s: &mut FlameState, codes: &[KeyCode]) {
        for &code in codes {
            assert_eq!(press(s, code), Action::None);
        }
    }

    fn typed(s: &mut FlameState, text: &str) {
        for c in text.chars() {
            press(s, KeyCode::Char(c));
        }
    }

    fn draw(s: &FlameState, width: u16, height: u16) -> Buffer {
        crate::tui::draw(s, width, height)
    }

    /// The screen as text. A coloured blank cell (the body of a frame) is
    /// `▒`, so frames show their extent without colours; the blank column
    /// parting two frames stays a space.
    fn text(buf: &Buffer) -> String {
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                let cell = &buf[(x, y)];
                if cell.symbol() == " " && cell.bg != Color::Reset {
                    line.push('▒');
                } else {
                    line.push_str(cell.symbol());
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Where `name` first shows on a screen as text.
    fn position(shown: &str, name: &str) -> (u16, u16) {
        shown
            .lines()
            .enumerate()
            .find_map(|(y, l)| {
                let x = l[..l.find(name)?].chars().count();
                Some((x as u16, y as u16))
            })
            .unwrap_or_else(|| panic!("{name} not drawn:\n{shown}"))
    }

    fn screen(s: &FlameState, width: u16, height: u16) -> String {
        text(&draw(s, width, height))
    }

    /// Up from `all` to `handle` along the widest callees.
    const TO_HANDLE: [KeyCode; 6] = [KeyCode::Up; 6];

    const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

    #[test]
    fn plain() {
        for (w, h) in SIZES {
            let s = state(w, h);
            insta::assert_snapshot!(format!("plain_{w}x{h}"), screen(&s, w, h));
        }
    }

    #[test]
    fn zoomed() {
        for (w, h) in SIZES {
            let mut s = state(w, h);
            keys(&mut s, &TO_HANDLE);
            keys(&mut s, &[KeyCode::Enter, KeyCode::Up]);
            assert_eq!(s.zoomed().last(), Some(&"handle"));
            insta::assert_snapshot!(format!("zoomed_{w}x{h}"), screen(&s, w, h));
        }
    }

    #[test]
    fn searched() {
        for (w, h) in SIZES {
            let mut s = state(w, h);
            press(&mut s, KeyCode::Char('/'));
            typed(&mut s, "checksum");
            press(&mut s, KeyCode::Enter);
            let shown = screen(&s, w, h);
            // 25 + 15 of 115.
            assert!(shown.contains("/checksum 34.8% of view"), "{shown}");
            let buf = draw(&s, w, h);
            let bg = |name: &str| buf[position(&shown, name)].bg;
            assert_eq!(bg("compute_c"), MATCH);
            assert_ne!(bg("parse_req"), MATCH);
            insta::assert_snapshot!(format!("searched_{w}x{h}"), shown);
        }
    }

    #[test]
    fn search_prompt() {
        let mut s = state(80, 24);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "qchecks");
        press(&mut s, KeyCode::Backspace);
        let shown = screen(&s, 80, 24);
        assert!(
            shown.contains("/qcheck   0.0% of view"),
            "q types into the prompt: {shown}"
        );
        press(&mut s, KeyCode::Esc);
        assert!(!s.prompt && s.search.is_empty());
    }

    /// The prompt says "Esc clears", and so Esc does after Enter kept the
    /// search, before it zooms out; Backspace only zooms out.
    #[test]
    fn esc_clears_a_kept_search_first() {
        let mut s = state(80, 24);
        keys(&mut s, &[KeyCode::Up, KeyCode::Enter]);
        assert_eq!(s.zoomed(), ["app-4242"]);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "checksum");
        keys(&mut s, &[KeyCode::Enter]);
        assert!(screen(&s, 80, 24).contains("/checksum"));
        keys(&mut s, &[KeyCode::Esc]);
        assert!(s.search.is_empty());
        assert_eq!(s.zoomed(), ["app-4242"], "still zoomed");
        let buf = draw(&s, 80, 24);
        let shown = text(&buf);
        assert!(!shown.contains("/checksum"), "{shown}");
        assert_ne!(buf[position(&shown, "compute_c")].bg, MATCH);
        keys(&mut s, &[KeyCode::Esc]);
        assert!(s.zoomed().is_empty(), "then zooms out");

        let mut s = state(80, 24);
        keys(&mut s, &[KeyCode::Up, KeyCode::Enter, KeyCode::Char('/')]);
        typed(&mut s, "checksum");
        keys(&mut s, &[KeyCode::Enter, KeyCode::Backspace]);
        assert!(s.zoomed().is_empty());
        assert_eq!(s.search, "checksum", "Backspace keeps the search");
    }

    /// dflow's own cost stays on the status bar at 80 columns too.
    #[test]
    fn status_bar_keeps_dflows_own_cost() {
        for (w, h) in SIZES {
            let s = state(w, h);
            let shown = screen(&s, w, h);
            let bar = shown.lines().last().unwrap();
            assert!(bar.contains(" · dflow 0.4% CPU 38 MiB · "), "{w}: {bar}");
        }
    }

    #[test]
    fn one_sample_is_one() {
        let mut s = FlameState::new(true);
        s.update(Msg::Profile(profile(&[sample(
            &process(1, "app"),
            1,
            "main",
            1,
        )])));
        s.update(Msg::Status(Status {
            samples: 1,
            ..status()
        }));
        let shown = screen(&s, 120, 40);
        assert!(shown.contains("\n1 sample · 100.0% of all · "), "{shown}");
        assert!(shown.contains(" · 1 sample · "), "{shown}");
        assert!(!shown.contains("1 samples"), "{shown}");
        assert_eq!(weighed(Weight::Micros, 1), "1 µs");
        assert_eq!(weighed(Weight::Samples, 1_234), "1,234 samples");
    }

    #[test]
    fn help() {
        for (w, h) in SIZES {
            let mut s = state(w, h);
            press(&mut s, KeyCode::Char('?'));
            insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&s, w, h));
            press(&mut s, KeyCode::Char('?'));
            assert!(!s.help);
        }
    }

    #[test]
    fn empty() {
        let live = FlameState::new(true);
        assert!(screen(&live, 80, 24).contains("waiting for samples…"));
        let replay = FlameState::new(false);
        assert!(screen(&replay, 80, 24).contains("no samples"));
    }

    #[test]
    fn q_and_ctrl_c_quit() {
        let mut s = state(80, 24);
        assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
        press(&mut s, KeyCode::Char('/'));
        assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
    }

    #[test]
    fn backspace_zooms_out_to_the_previous_zoom() {
        let mut s = state(80, 24);
        keys(&mut s, &[KeyCode::Up, KeyCode::Enter]);
        assert_eq!(s.zoomed(), ["app-4242"]);
        keys(&mut s, &[KeyCode::Up, KeyCode::Enter]);
        assert_eq!(s.zoomed(), ["app-4242", "_start"]);
        keys(&mut s, &[KeyCode::Backspace]);
        assert_eq!(s.zoomed(), ["app-4242"]);
        keys(&mut s, &[KeyCode::Esc]);
        assert!(s.zoomed().is_empty());
        keys(&mut s, &[KeyCode::Esc]);
        assert!(s.zoomed().is_empty(), "nothing above all");
    }

    #[test]
    fn moves_follow_the_tree() {
        let mut s = state(80, 24);
        keys(&mut s, &TO_HANDLE);
        keys(&mut s, &[KeyCode::Up]);
        // handle's widest callee; parse_request and render_page tie at 30,
        // and parse_request is the leftmost.
        assert_eq!(s.selected().last(), Some(&"parse_request"));
        keys(&mut s, &[KeyCode::Left]);
        assert_eq!(s.selected().last(), Some(&"compute_checksum"));
        keys(&mut s, &[KeyCode::Left]);
        assert_eq!(s.selected().last(), Some(&"compute_checksum"), "leftmost");
        keys(&mut s, &[KeyCode::Right, KeyCode::Right, KeyCode::Right]);
        // Past handle's callees to the worker thread's frame at the same depth.
        assert_eq!(
            s.selected(),
            [
                "app-4242",
                "clone3",
                "start_thread",
                "worker_loop",
                "flush_queue",
                "write",
                "entry_SYSCALL_64"
            ]
        );
        keys(&mut s, &[KeyCode::Down, KeyCode::Char('j')]);
        assert_eq!(s.selected().last(), Some(&"flush_queue"));
        keys(&mut s, &[KeyCode::Char('i'), KeyCode::Down]);
        assert_eq!(s.selected().last(), Some(&"write"), "icicle: callees below");
    }

    #[test]
    fn callees_of_one_name_are_told_apart_by_module() {
        let app = process(1, "app");
        let init = |module: &str| StackFrame {
            function: "init".to_owned(),
            module: module.to_owned(),
            kernel: false,
        };
        let mut samples = Vec::new();
        for module in ["/usr/lib/liba.so", "/usr/lib/libb.so"] {
            samples.push(Sample {
                stack: fold::stack(vec![frame("main", "/usr/bin/app"), init(module)]),
                ..sample(&app, 1, "main", 10)
            });
        }
        let mut s = FlameState::new(true);
        s.update(Msg::Profile(profile(&samples)));
        keys(
            &mut s,
            &[KeyCode::Up, KeyCode::Up, KeyCode::Up, KeyCode::Right],
        );
        let view = s.view(80);
        assert_eq!(s.tree().node(view.selected).frame, init("/usr/lib/libb.so"));
    }

    #[test]
    fn next_match_goes_left_to_right() {
        let mut s = state(80, 24);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "checksum");
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.selected().last(), Some(&"compute_checksum"));
        assert_eq!(s.selected()[1], "_start");
        press(&mut s, KeyCode::Char('n'));
        assert_eq!(s.selected()[1], "clone3");
        press(&mut s, KeyCode::Char('n'));
        assert_eq!(s.selected()[1], "_start", "wraps around");
    }

    #[test]
    fn selection_and_zoom_survive_more_samples() {
        let mut s = state(80, 24);
        keys(&mut s, &TO_HANDLE);
        keys(&mut s, &[KeyCode::Enter, KeyCode::Up, KeyCode::Left]);
        let selected: Vec<String> = s.selected().iter().map(|n| n.to_string()).collect();
        assert_eq!(selected.last().unwrap(), "compute_checksum");
        let mut more = samples();
        let app = more[0].process.clone();
        // A new callee that sorts first under handle, and more of everything.
        more.push(sample(
            &app,
            4242,
            "_start;__libc_start_main;main;run;handle;accept_conn",
            40,
        ));
        more.extend(samples());
        s.update(Msg::Profile(profile(&more)));
        assert_eq!(s.selected(), selected);
        assert_eq!(s.zoomed().last(), Some(&"handle"));
        let view = s.view(80);
        assert_eq!(
            s.tree().node(view.selected).frame.function,
            "compute_checksum"
        );
        assert_eq!(s.tree().node(view.selected).total, 50);

        // Gone from the next profile: its nearest remaining caller stands in.
        let without = |gone: &str| -> Vec<Sample> {
            samples()
                .into_iter()
                .filter(|x| !x.stack.iter().any(|f| f.function == gone))
                .collect()
        };
        let function = |s: &FlameState, id: NodeId| s.tree().node(id).frame.function.clone();
        s.update(Msg::Profile(profile(&without("compute_checksum"))));
        let view = s.view(80);
        assert_eq!(function(&s, view.zoom), "handle");
        assert_eq!(function(&s, view.selected), "handle");
        // The whole main thread gone: the worker keeps the process.
        s.update(Msg::Profile(profile(&without("handle"))));
        let view = s.view(80);
        assert_eq!(function(&s, view.zoom), "app-4242");
        assert_eq!(function(&s, view.selected), "app-4242");
        // And back: the remembered frames are found again.
        s.update(Msg::Profile(profile(&samples())));
        let view = s.view(80);
        assert_eq!(function(&s, view.selected), "compute_checksum");
    }

    #[test]
    fn t_splits_the_roots_by_thread() {
        let mut s = state(80, 24);
        keys(&mut s, &TO_HANDLE);
        keys(&mut s, &[KeyCode::Char('t')]);
        assert!(s.per_thread());
        let roots: Vec<&str> = s
            .tree()
            .node(FlameTree::ROOT)
            .children
            .iter()
            .map(|&c| s.tree().node(c).frame.function.as_str())
            .collect();
        assert_eq!(roots, ["app-4242/4242", "app-4242/4243", "logger-77/77"]);
        assert_eq!(
            s.selected()[0],
            "app-4242/4242",
            "the thread that has the path"
        );
        assert_eq!(s.selected().last(), Some(&"handle"));
        assert!(screen(&s, 80, 24).contains("per thread"));
        keys(&mut s, &[KeyCode::Char('t')]);
        assert_eq!(s.selected()[0], "app-4242");

        let mut unsplit = FlameState::new(true);
        let mut one = samples().remove(0);
        one.tid = None;
        unsplit.update(Msg::Profile(profile(&[one])));
        keys(&mut unsplit, &[KeyCode::Char('t')]);
        assert!(!unsplit.per_thread());
        assert!(screen(&unsplit, 80, 24).contains("no per-thread samples"));
    }

    #[test]
    fn i_puts_the_root_on_top() {
        let mut s = state(80, 24);
        let rows = |s: &FlameState| -> Vec<String> {
            screen(s, 80, 24).lines().map(str::to_owned).collect()
        };
        // The flame area ends above the selected-frame line and the status bar.
        assert!(rows(&s)[21].starts_with("all▒"), "{}", rows(&s)[21]);
        assert!(!rows(&s)[0].starts_with("all"));
        keys(&mut s, &[KeyCode::Char('i')]);
        assert!(s.inverted());
        assert!(rows(&s)[0].starts_with("all▒"), "{}", rows(&s)[0]);
        assert!(!rows(&s)[21].starts_with("all"));
    }

    #[test]
    fn kernel_and_user_frames_differ_in_colour() {
        let s = state(80, 24);
        let buf = draw(&s, 80, 24);
        let shown = text(&buf);
        let bg = |name: &str| buf[position(&shown, name)].bg;
        assert_ne!(bg("entry_S"), bg("parse_req"));
        assert_ne!(bg("entry_S"), bg("__libc_st"));
        assert_ne!(bg("parse_req"), bg("__libc_st"));
    }

    #[test]
    fn a_deep_selection_stays_in_view() {
        let (w, h) = (80, 8);
        let mut s = state(w, h);
        keys(&mut s, &TO_HANDLE);
        // parse_request, render_page, write, then down into the kernel.
        keys(&mut s, &[KeyCode::Up, KeyCode::Right, KeyCode::Up]);
        keys(&mut s, &[KeyCode::Up; 4]);
        assert_eq!(s.selected().last(), Some(&"vfs_write"));
        let buf = draw(&s, w, h);
        let flame_rows = 0..h - 2;
        let selected = flame_rows
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&p| buf[p].modifier.contains(Modifier::REVERSED))
            .count();
        assert!(selected > 0, "{}", text(&buf));
    }

    #[test]
    fn callees_stay_within_their_callers() {
        let s = state(80, 24);
        let tree = s.tree();
        for width in [1, 7, 80, 333] {
            for zoom in [FlameTree::ROOT, tree.find_path(&["app-4242"]).unwrap()] {
                let bars = layout(tree, zoom, width);
                for bar in &bars {
                    assert!(bar.width > 0 && bar.x + bar.width <= width);
                    let Some(parent) = tree.node(bar.node).parent else {
                        continue;
                    };
                    let up = bars.iter().find(|b| b.node == parent).unwrap();
                    assert!(up.x <= bar.x && bar.x + bar.width <= up.x + up.width);
                }
            }
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(12_345), "12,345");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(clock(Duration::from_secs(12)), "00:12");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(first_level(3, 10, 20), 0);
        assert_eq!(first_level(25, 30, 22), 6);
        assert_eq!(first_level(30, 30, 22), 9);
        assert_eq!(first_level(7, 30, 1), 7);
    }
}
