//! The search index: dictionary-encoded columns in blocks of [`BLOCK_ROWS`] rows, with per-value
//! bitmaps (`roaring`) on sealed blocks.
//!
//! Why this shape: the audit search answers a page *and* five facets over the whole matching set.
//! Facets over broad sets are a walk over small integer columns (what column stores win), while
//! selective filters need posting lists (what b-trees win). A block holds both:
//! - columns (`time`, data source, project, profile, record type, outcome) as dense arrays of
//!   dictionary codes, walked for facet counts and min/max;
//! - for each value, a bitmap of the rows holding it, intersected to evaluate filters;
//! - per-block precomputed value counts and min/max time, so a block that matches whole costs
//!   nothing to count, and a zone map that lets the page skip blocks that cannot reach it.
//!
//! Rows arrive in sequence order. New rows land in small immutable *chunks* (one per published
//! batch, scanned linearly); when they add up to a full block they are merged into a sealed
//! block with bitmaps. A query's snapshot is the list of `Arc`s at one instant, so an append
//! racing a query is either wholly visible to it or not at all.

use std::cmp::Reverse;
use std::sync::Arc;

use rayon::prelude::*;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use trail_model::query::{finish_id_facet, finish_name_facet};
use trail_model::{Dimensions, FacetEntry, Facets, NameCount, Outcome, SearchQuery, SortOrder};

use super::columns::{Codes, Times};
use super::log::Location;

/// Rows per sealed block (one roaring container's worth).
pub const BLOCK_ROWS: usize = 1 << 16;

/// An id-keyed dictionary (data sources, projects, profiles, purposes). Code 0 means "none".
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct IdDict {
    #[serde(skip)]
    codes: FxHashMap<i64, u32>,
    /// `ids[code - 1]`
    pub ids: Vec<i64>,
    /// Latest display name seen, by code - 1.
    pub names: Vec<Option<String>>,
}

impl IdDict {
    pub fn code(&self, id: i64) -> Option<u32> {
        self.codes.get(&id).copied()
    }

    pub fn intern(&mut self, id: i64, name: Option<&str>) -> u32 {
        match self.codes.get(&id) {
            Some(&c) => {
                if let Some(n) = name {
                    let slot = &mut self.names[c as usize - 1];
                    if slot.as_deref() != Some(n) {
                        *slot = Some(n.to_string());
                    }
                }
                c
            }
            None => {
                self.ids.push(id);
                self.names.push(name.map(str::to_string));
                let c = self.ids.len() as u32;
                self.codes.insert(id, c);
                c
            }
        }
    }

    pub fn len_with_none(&self) -> usize {
        self.ids.len() + 1
    }

    /// The ids and names without the lookup: what is persisted.
    fn without_lookup(&self) -> IdDict {
        IdDict {
            codes: FxHashMap::default(),
            ids: self.ids.clone(),
            names: self.names.clone(),
        }
    }

    pub fn rebuild_lookup(&mut self) {
        self.codes = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32 + 1))
            .collect();
    }
}

/// A string-keyed dictionary (record types, blob ids). Code 0 means "none".
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StrDict {
    #[serde(skip)]
    codes: FxHashMap<String, u32>,
    pub names: Vec<String>,
}

impl StrDict {
    pub fn code(&self, s: &str) -> Option<u32> {
        self.codes.get(s).copied()
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.codes.get(s) {
            return c;
        }
        self.names.push(s.to_string());
        let c = self.names.len() as u32;
        self.codes.insert(s.to_string(), c);
        c
    }

    pub fn len_with_none(&self) -> usize {
        self.names.len() + 1
    }

    /// The names without the lookup: what is persisted.
    fn without_lookup(&self) -> StrDict {
        StrDict {
            codes: FxHashMap::default(),
            names: self.names.clone(),
        }
    }

    pub fn rebuild_lookup(&mut self) {
        self.codes = self
            .names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32 + 1))
            .collect();
    }
}

/// All dictionaries of one store.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Dicts {
    pub data_source: IdDict,
    pub project: IdDict,
    pub profile: IdDict,
    pub purpose: IdDict,
    pub record_type: StrDict,
    pub blob: StrDict,
}

impl Dicts {
    /// Every dictionary but the blob ids', without lookups. Blob ids grow with the events, so
    /// they are persisted append-only instead (see `persist::save_dicts`).
    pub fn without_blobs(&self) -> Dicts {
        Dicts {
            data_source: self.data_source.without_lookup(),
            project: self.project.without_lookup(),
            profile: self.profile.without_lookup(),
            purpose: self.purpose.without_lookup(),
            record_type: self.record_type.without_lookup(),
            blob: StrDict::default(),
        }
    }

    pub fn rebuild_lookups(&mut self) {
        self.data_source.rebuild_lookup();
        self.project.rebuild_lookup();
        self.profile.rebuild_lookup();
        self.purpose.rebuild_lookup();
        self.record_type.rebuild_lookup();
        self.blob.rebuild_lookup();
    }
}

/// Values with more rows than this in a block keep a roaring bitmap; sparser ones a sorted row list.
const DENSE_ROWS: usize = 4096;

/// The rows holding each value of one dimension in one sealed block.
///
/// Most values of high-cardinality dimensions (users, data sources) hold a few rows per block,
/// where a bitmap's fixed overhead would dwarf its content: those keep a sorted `u16` row list
/// (2 bytes a row). Values holding many rows keep a roaring bitmap (at most 8 KiB a block).
#[derive(Clone, Debug, Default)]
pub struct PostingList {
    /// (code, start, len), sorted by code. Sparse values: `rows[start..start + len]`; dense
    /// values: `dense[start]`.
    entries: Vec<(u32, u32, u32)>,
    rows: Vec<u16>,
    dense: Vec<RoaringBitmap>,
}

/// The (row, code) pairs without code 0 and duplicates, ordered by (code, row).
///
/// Sealing a block groups every column this way, so it is a counting sort by code: the pairs
/// mostly arrive in row order, which the scatter keeps, and only a code whose rows came out of
/// order (extra data sources of multi-source events) is sorted afterwards. Codes far sparser than
/// the pairs fall back to a comparison sort.
fn grouped_by_code(mut pairs: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    pairs.retain(|p| p.1 != 0);
    let max_code = pairs.iter().map(|p| p.1 as usize).max().unwrap_or(0);
    if max_code > pairs.len().saturating_mul(4).max(1024) {
        pairs.sort_unstable_by_key(|&(row, code)| (code, row));
        pairs.dedup();
        return pairs;
    }
    // `next[code]`: where the next pair of `code` goes.
    let mut next = vec![0usize; max_code + 1];
    for &(_, code) in &pairs {
        next[code as usize] += 1;
    }
    let mut start = 0;
    for slot in &mut next {
        let count = *slot;
        *slot = start;
        start += count;
    }
    let mut out = vec![(0u32, 0u32); pairs.len()];
    for pair in pairs {
        let slot = &mut next[pair.1 as usize];
        out[*slot] = pair;
        *slot += 1;
    }
    let mut run_start = 0;
    while run_start < out.len() {
        let code = out[run_start].1;
        let run_end = run_start + out[run_start..].partition_point(|p| p.1 == code);
        let run = &mut out[run_start..run_end];
        if !run.windows(2).all(|w| w[0].0 <= w[1].0) {
            run.sort_unstable();
        }
        run_start = run_end;
    }
    out.dedup();
    out
}

impl PostingList {
    /// Builds from (row, code) pairs; code 0 ("none") is skipped.
    pub fn build(pairs: Vec<(u32, u32)>) -> PostingList {
        let pairs = grouped_by_code(pairs);
        let mut list = PostingList::default();
        let mut i = 0;
        while i < pairs.len() {
            let code = pairs[i].1;
            let j = i + pairs[i..].partition_point(|p| p.1 == code);
            let len = (j - i) as u32;
            if j - i > DENSE_ROWS {
                list.entries.push((code, list.dense.len() as u32, len));
                list.dense.push(
                    RoaringBitmap::from_sorted_iter(pairs[i..j].iter().map(|p| p.0))
                        .unwrap_or_default(),
                );
            } else {
                list.entries.push((code, list.rows.len() as u32, len));
                list.rows.extend(pairs[i..j].iter().map(|p| p.0 as u16));
            }
            i = j;
        }
        list.rows.shrink_to_fit();
        list.entries.shrink_to_fit();
        list
    }

    fn entry(&self, code: u32) -> Option<(u32, u32, u32)> {
        self.entries
            .binary_search_by_key(&code, |e| e.0)
            .ok()
            .map(|i| self.entries[i])
    }

    /// Appends this list's persisted form (see `persist`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (code, start, len) in &self.entries {
            for v in [code, start, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.rows.len() as u32).to_le_bytes());
        for r in &self.rows {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.dense.len() as u32).to_le_bytes());
        for b in &self.dense {
            out.extend_from_slice(&(b.serialized_size() as u32).to_le_bytes());
            // Writing into a Vec cannot fail.
            let _ = b.serialize_into(&mut *out);
        }
    }

    /// Reads a list written by [`PostingList::encode`], checking that it is self-consistent
    /// for a block of `block_len` rows; returns it and the bytes consumed.
    pub fn decode(bytes: &[u8], block_len: usize) -> Option<(PostingList, usize)> {
        let mut at = 0usize;
        let u32_at = |at: &mut usize| -> Option<u32> {
            let v = u32::from_le_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?);
            *at += 4;
            Some(v)
        };
        let n = u32_at(&mut at)? as usize;
        let mut entries = Vec::with_capacity(n.min(block_len + 1));
        for _ in 0..n {
            entries.push((u32_at(&mut at)?, u32_at(&mut at)?, u32_at(&mut at)?));
        }
        let rows_n = u32_at(&mut at)? as usize;
        let raw = bytes.get(at..at.checked_add(rows_n.checked_mul(2)?)?)?;
        let rows: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        at += rows_n * 2;
        let dense_n = u32_at(&mut at)? as usize;
        let mut dense = Vec::with_capacity(dense_n.min(64));
        for _ in 0..dense_n {
            let len = u32_at(&mut at)? as usize;
            let raw = bytes.get(at..at.checked_add(len)?)?;
            dense.push(RoaringBitmap::deserialize_from(raw).ok()?);
            at += len;
        }
        let list = PostingList {
            entries,
            rows,
            dense,
        };
        list.is_consistent(block_len).then_some((list, at))
    }

    fn is_consistent(&self, block_len: usize) -> bool {
        let sorted = self.entries.windows(2).all(|w| w[0].0 < w[1].0);
        let in_bounds = self.entries.iter().all(|&(_, start, len)| {
            if len as usize > DENSE_ROWS {
                self.dense.get(start as usize).is_some_and(|b| {
                    b.len() == len as u64 && b.max().is_none_or(|m| (m as usize) < block_len)
                })
            } else {
                (start as usize)
                    .checked_add(len as usize)
                    .is_some_and(|end| end <= self.rows.len())
            }
        });
        sorted && in_bounds && self.rows.iter().all(|r| (*r as usize) < block_len)
    }

    /// Rows holding any of `codes`.
    pub fn union_of(&self, codes: &[u32]) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let mut sparse: Vec<&[u16]> = Vec::new();
        for &c in codes {
            let Some((_, start, len)) = self.entry(c) else {
                continue;
            };
            if len as usize > DENSE_ROWS {
                out |= &self.dense[start as usize];
            } else {
                sparse.push(&self.rows[start as usize..(start + len) as usize]);
            }
        }
        match sparse.as_slice() {
            [] => {}
            [one] => {
                out |= RoaringBitmap::from_sorted_iter(one.iter().map(|r| *r as u32))
                    .unwrap_or_default()
            }
            // Several lists: mark their rows in a block-sized bitset rather than sorting the
            // concatenation (q08 of the suite unions eight data sources' lists in every block).
            lists => {
                let mut bits = vec![0u8; 1 << 13];
                for r in lists.iter().flat_map(|l| l.iter()) {
                    bits[(*r >> 3) as usize] |= 1 << (*r & 7);
                }
                out |= RoaringBitmap::from_lsb0_bytes(0, &bits);
            }
        }
        out
    }

    /// (code, rows of `rows` holding it) for every value.
    pub fn intersection_counts<'a>(
        &'a self,
        rows: &'a RoaringBitmap,
    ) -> impl Iterator<Item = (u32, u64)> + 'a {
        self.entries.iter().map(move |&(code, start, len)| {
            let n = if len as usize > DENSE_ROWS {
                rows.intersection_len(&self.dense[start as usize])
            } else {
                let list = &self.rows[start as usize..(start + len) as usize];
                list.iter().filter(|r| rows.contains(**r as u32)).count() as u64
            };
            (code, n)
        })
    }

    /// (code, rows holding it) for every value.
    pub fn counts(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.entries.iter().map(|e| (e.0, e.2 as u64))
    }

    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * 12
            + self.rows.capacity() * 2
            + self
                .dense
                .iter()
                .map(|b| b.serialized_size() + 48)
                .sum::<usize>()
    }
}

/// A dimension whose values have few distinct codes, so a sealed block can keep the facet
/// counts of each value's rows (see [`ValueFacets`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountedDim {
    RecordType,
    /// Keyed by outcome code + 1, as in the postings.
    Outcome,
    /// An event may hold several purposes: a value's counts are those of the rows holding it,
    /// so they answer a filter naming one purpose (the API takes one), never a sum of several.
    Purpose,
    /// Like purposes, an event may hold several data sources; a sum over several values is
    /// corrected for the rows holding more than one of them (see `Tally::add_values`).
    DataSource,
}

impl CountedDim {
    pub const ALL: [CountedDim; 4] = [
        CountedDim::RecordType,
        CountedDim::Outcome,
        CountedDim::Purpose,
        CountedDim::DataSource,
    ];
}

/// For each value of one [`CountedDim`] in a sealed block, the facet counts of the rows holding
/// it: (code, rows) per facet, exactly what counting those rows column by column would add.
///
/// A search filtering on that dimension alone (q03 of the suite: 2.7M rows of one record type
/// at 10M events; q09: 262k rows of one purpose; q08: 617k rows of eight data sources) then
/// adds up a few thousand counts per block instead of reading every matching row's codes.
/// Built in the background once a block is sealed or loaded (see `EmbeddedStore::warm`), or
/// by the first search that needs them, whichever comes first, so reopening does not wait for
/// them. Counted by grouping the rows by value (`RowsByKey`) and
/// tallying each facet's codes in a dense table (`CodeCounter`): linear in the rows, about
/// 1.8 ms per dimension for a full block of generated events.
#[derive(Clone, Debug, Default)]
pub struct ValueFacets {
    /// Sorted by the value's code.
    values: Vec<(u32, FacetCounts)>,
}

/// (code, rows) of the data source, project, profile, record type and outcome (code + 1)
/// facets, each sorted by code.
type FacetCounts = [Vec<(u32, u32)>; 5];

impl ValueFacets {
    fn build(block: &Block, dim: CountedDim) -> ValueFacets {
        let columns = [
            block.data_source.to_vec(),
            block.project.to_vec(),
            block.profile.to_vec(),
            block.record_type.to_vec(),
            block.outcome.iter().map(|o| *o as u32 + 1).collect(),
        ];
        // The rows of each value, and (value, data source) for each extra data source of them.
        let (by_key, mut extras) = match dim {
            CountedDim::RecordType | CountedDim::Outcome => {
                let key = &columns[if dim == CountedDim::RecordType { 3 } else { 4 }];
                let extras: Vec<(u32, u32)> = block
                    .data_source_extra
                    .iter()
                    .map(|(row, c)| (key[*row as usize], *c))
                    .collect();
                (RowsByKey::new(key), extras)
            }
            CountedDim::Purpose | CountedDim::DataSource => {
                let built;
                let list = match (&block.postings, dim) {
                    (Some(p), CountedDim::Purpose) => &p.purpose,
                    (Some(p), _) => &p.data_source,
                    (None, _) => {
                        built = block.build_postings_of(dim);
                        &built
                    }
                };
                let by_key = RowsByKey::of_postings(list);
                let extras = if dim == CountedDim::DataSource {
                    extras_by_data_source(block)
                } else {
                    (by_key.keys.iter().enumerate())
                        .flat_map(|(i, k)| {
                            let rows = by_key.rows_of(i);
                            (block.data_source_extra.iter())
                                .filter(|(row, _)| rows.binary_search(row).is_ok())
                                .map(|(_, c)| (*k, *c))
                        })
                        .collect()
                };
                (by_key, extras)
            }
        };
        extras.sort_unstable();
        let codes = columns
            .iter()
            .flatten()
            .chain(extras.iter().map(|(_, c)| c))
            .max()
            .map_or(0, |m| *m as usize + 1);
        let mut counter = CodeCounter::new(codes);
        let values: Vec<(u32, FacetCounts)> = by_key
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let rows = by_key.rows_of(i);
                let facets: FacetCounts = std::array::from_fn(|facet| {
                    let column = &columns[facet];
                    rows.iter().for_each(|r| counter.add(column[*r as usize]));
                    if facet == 0 {
                        let from = extras.partition_point(|(ek, _)| ek < k);
                        extras[from..]
                            .iter()
                            .take_while(|(ek, _)| ek == k)
                            .for_each(|(_, c)| counter.add(*c));
                    }
                    counter.take_sorted()
                });
                (*k, facets)
            })
            .collect();
        ValueFacets { values }
    }

    fn of_value(&self, code: u32) -> Option<&FacetCounts> {
        self.values
            .binary_search_by_key(&code, |v| v.0)
            .ok()
            .map(|i| &self.values[i].1)
    }

    fn heap_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<(u32, FacetCounts)>()
            + self
                .values
                .iter()
                .flat_map(|v| v.1.iter())
                .map(|f| f.capacity() * 8)
                .sum::<usize>()
    }
}

/// (data source, extra data source) for each data source of each row with extra data sources:
/// the extras each data source's rows add to the data-source facet. Linear in the extras (a
/// row's data sources are its column's and its extras), where testing every extra against every
/// data source's rows cost hundreds of values times the extras.
fn extras_by_data_source(block: &Block) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (row, extras) in block.extras_by_row() {
        let mut held: Vec<u32> = block
            .data_sources_of(row, extras)
            .filter(|c| *c != 0)
            .collect();
        held.sort_unstable();
        held.dedup();
        for k in held {
            out.extend(extras.iter().map(|(_, c)| (k, *c)));
        }
    }
    out
}

/// A block's rows grouped by their value of one column (a counting sort): the rows holding
/// `keys[i]`, in row order, are `rows_of(i)`.
struct RowsByKey {
    /// The distinct values, ascending.
    keys: Vec<u32>,
    /// `rows[starts[i]..starts[i + 1]]` hold `keys[i]`.
    starts: Vec<u32>,
    rows: Vec<u32>,
}

impl RowsByKey {
    fn new(key_of_row: &[u32]) -> RowsByKey {
        let width = key_of_row.iter().max().map_or(0, |m| *m as usize + 1);
        let mut next = vec![0u32; width + 1];
        for k in key_of_row {
            next[*k as usize + 1] += 1;
        }
        let keys: Vec<u32> = (0..width as u32)
            .filter(|k| next[*k as usize + 1] > 0)
            .collect();
        for k in 0..width {
            next[k + 1] += next[k];
        }
        let mut starts: Vec<u32> = keys.iter().map(|k| next[*k as usize]).collect();
        starts.push(key_of_row.len() as u32);
        let mut rows = vec![0u32; key_of_row.len()];
        for (row, k) in key_of_row.iter().enumerate() {
            let at = &mut next[*k as usize];
            rows[*at as usize] = row as u32;
            *at += 1;
        }
        RowsByKey { keys, starts, rows }
    }

    /// The rows of each value of a posting list (a value of a multi-valued dimension may
    /// share rows with another).
    fn of_postings(list: &PostingList) -> RowsByKey {
        let mut by_key = RowsByKey {
            keys: Vec::with_capacity(list.entries.len()),
            starts: Vec::with_capacity(list.entries.len() + 1),
            rows: Vec::new(),
        };
        for &(code, start, len) in &list.entries {
            by_key.keys.push(code);
            by_key.starts.push(by_key.rows.len() as u32);
            if len as usize > DENSE_ROWS {
                by_key.rows.extend(rows_of(&list.dense[start as usize]));
            } else {
                let rows = &list.rows[start as usize..(start + len) as usize];
                by_key.rows.extend(rows.iter().map(|r| u32::from(*r)));
            }
        }
        by_key.starts.push(by_key.rows.len() as u32);
        by_key
    }

    fn rows_of(&self, i: usize) -> &[u32] {
        &self.rows[self.starts[i] as usize..self.starts[i + 1] as usize]
    }
}

/// Occurrences of codes below a bound, in a dense table whose touched cells are remembered,
/// so each count costs one increment and taking the result costs only the distinct codes.
struct CodeCounter {
    counts: Vec<u32>,
    touched: Vec<u32>,
}

impl CodeCounter {
    fn new(codes: usize) -> CodeCounter {
        CodeCounter {
            counts: vec![0; codes],
            touched: Vec::new(),
        }
    }

    fn add(&mut self, code: u32) {
        let n = &mut self.counts[code as usize];
        if *n == 0 {
            self.touched.push(code);
        }
        *n += 1;
    }

    /// (code, occurrences) of every code added since the last call, by code; resets.
    fn take_sorted(&mut self) -> Vec<(u32, u32)> {
        self.touched.sort_unstable();
        let out = self
            .touched
            .iter()
            .map(|c| (*c, std::mem::take(&mut self.counts[*c as usize])))
            .collect();
        self.touched.clear();
        out
    }
}

/// Posting lists of a sealed block. Blob ids are not here: nearly every blob id is unique, so
/// the blob filter scans the block's short (row, blob) list instead.
#[derive(Clone, Debug, Default)]
pub struct Postings {
    pub data_source: PostingList,
    pub project: PostingList,
    pub profile: PostingList,
    pub record_type: PostingList,
    /// Keyed by outcome code + 1.
    pub outcome: PostingList,
    pub purpose: PostingList,
}

impl Postings {
    /// The lists in their persisted order.
    pub fn lists(&self) -> [&PostingList; 6] {
        [
            &self.data_source,
            &self.project,
            &self.profile,
            &self.record_type,
            &self.outcome,
            &self.purpose,
        ]
    }
}

/// A run of rows sharing a value (segment number or received time), from `start` on.
pub type Run<T> = (u32, T);

/// A block of consecutive rows: a sealed block (with postings) or an open chunk (without).
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Global row number (= sequence - 1) of the first row.
    pub base_row: u64,
    pub time: Times,
    pub min_time: i64,
    pub max_time: i64,
    /// Offset of each record in its segment.
    pub offset: Vec<u32>,
    pub segment_runs: Vec<Run<u32>>,
    pub received_runs: Vec<Run<i64>>,
    /// First data source of each row (code, 0 = none); further ones in `data_source_extra`.
    pub data_source: Codes,
    pub data_source_extra: Vec<(u32, u32)>,
    pub project: Codes,
    pub profile: Codes,
    pub record_type: Codes,
    pub outcome: Vec<u8>,
    pub blob: Vec<(u32, u32)>,
    pub purpose: Vec<(u32, u32)>,
    /// Event-id fingerprints, kept until the block is persisted.
    pub fingerprints: Vec<u64>,
    pub postings: Option<Postings>,
    /// Per-value facet counts of sealed blocks, by [`CountedDim`], built on first use.
    pub value_facets: [std::sync::OnceLock<ValueFacets>; CountedDim::ALL.len()],
    /// The rows sorted by (time, row): a sealed block's built in the background (see
    /// [`Block::build_derived`]), an open chunk's by the first deep page that needs it (see
    /// `page_by_counting`); `None` inside when the block cannot have one (more than 65,536
    /// rows). `top_rows` walks it from the best end, so a block whose times span the whole
    /// range (late events) yields its best matching rows without visiting every match.
    pub time_order: std::sync::OnceLock<Option<Box<[u16]>>>,
}

fn push_run<T: PartialEq + Copy>(runs: &mut Vec<Run<T>>, row: u32, value: T) {
    if runs.last().map(|r| r.1) != Some(value) {
        runs.push((row, value));
    }
}

fn run_value<T: Copy>(runs: &[Run<T>], row: u32) -> Option<T> {
    let i = runs.partition_point(|r| r.0 <= row);
    i.checked_sub(1).map(|i| runs[i].1)
}

impl Block {
    pub fn new(base_row: u64) -> Block {
        Block {
            base_row,
            min_time: i64::MAX,
            max_time: i64::MIN,
            ..Default::default()
        }
    }

    /// An empty block whose columns already hold room for `rows` rows (no regrowth waste).
    pub fn with_capacity(base_row: u64, rows: usize) -> Block {
        let mut b = Block::new(base_row);
        b.time = Times::with_capacity(rows);
        b.offset.reserve_exact(rows);
        b.data_source = Codes::with_capacity(rows);
        b.project = Codes::with_capacity(rows);
        b.profile = Codes::with_capacity(rows);
        b.record_type = Codes::with_capacity(rows);
        b.outcome.reserve_exact(rows);
        b.fingerprints.reserve_exact(rows);
        b
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Interns one event's dimensions and appends its row (codes go straight into the columns,
    /// with no per-row intermediate).
    pub fn push_event(
        &mut self,
        dicts: &mut Dicts,
        d: &Dimensions,
        location: Location,
        received_ms: i64,
        fingerprint: u64,
    ) {
        let row = self.time.len() as u32;
        self.time.push(d.event_time_ms);
        self.min_time = self.min_time.min(d.event_time_ms);
        self.max_time = self.max_time.max(d.event_time_ms);
        self.offset.push(location.offset);
        push_run(&mut self.segment_runs, row, location.segment);
        push_run(&mut self.received_runs, row, received_ms);
        let mut ds = d
            .data_sources
            .iter()
            .map(|n| dicts.data_source.intern(n.id, n.name.as_deref()));
        self.data_source.push(ds.next().unwrap_or(0));
        for c in ds {
            self.data_source_extra.push((row, c));
        }
        self.project.push(
            d.project
                .as_ref()
                .map_or(0, |p| dicts.project.intern(p.id, p.name.as_deref())),
        );
        self.profile.push(
            d.profile_id
                .map_or(0, |id| dicts.profile.intern(id, d.user_id.as_deref())),
        );
        self.record_type
            .push(dicts.record_type.intern(&d.record_type));
        self.outcome.push(d.outcome.code());
        if let Some(b) = d.blob_id.as_deref() {
            self.blob.push((row, dicts.blob.intern(b)));
        }
        for p in &d.purpose_ids {
            self.purpose.push((row, dicts.purpose.intern(*p, None)));
        }
        self.fingerprints.push(fingerprint);
    }

    /// Appends another block's rows (used when merging chunks into a sealed block).
    pub fn extend_from(&mut self, other: &Block) {
        let shift = self.len() as u32;
        for &(row, seg) in &other.segment_runs {
            push_run(&mut self.segment_runs, row + shift, seg);
        }
        for &(row, t) in &other.received_runs {
            push_run(&mut self.received_runs, row + shift, t);
        }
        self.time.extend_from(&other.time);
        if !other.is_empty() {
            self.min_time = self.min_time.min(other.min_time);
            self.max_time = self.max_time.max(other.max_time);
        }
        self.offset.extend_from_slice(&other.offset);
        self.data_source.extend_from(&other.data_source);
        self.data_source_extra
            .extend(other.data_source_extra.iter().map(|(r, c)| (r + shift, *c)));
        self.project.extend_from(&other.project);
        self.profile.extend_from(&other.profile);
        self.record_type.extend_from(&other.record_type);
        self.outcome.extend_from_slice(&other.outcome);
        self.blob
            .extend(other.blob.iter().map(|(r, c)| (r + shift, *c)));
        self.purpose
            .extend(other.purpose.iter().map(|(r, c)| (r + shift, *c)));
        self.fingerprints.extend_from_slice(&other.fingerprints);
    }

    /// Each row with extra data sources, with its (row, data source) extras.
    fn extras_by_row(&self) -> impl Iterator<Item = (usize, &[(u32, u32)])> {
        self.data_source_extra
            .chunk_by(|a, b| a.0 == b.0)
            .map(|extras| (extras[0].0 as usize, extras))
    }

    /// A row's data sources as searches count them: its column's code, then each extra.
    fn data_sources_of<'a>(
        &self,
        row: usize,
        extras: &'a [(u32, u32)],
    ) -> impl Iterator<Item = u32> + Clone + 'a {
        std::iter::once(self.data_source.get(row)).chain(extras.iter().map(|(_, c)| *c))
    }

    /// The posting list of a multi-valued dimension, for a block without postings.
    fn build_postings_of(&self, dim: CountedDim) -> PostingList {
        match dim {
            CountedDim::DataSource => {
                let mut ds: Vec<(u32, u32)> = (0..self.len())
                    .map(|r| (r as u32, self.data_source.get(r)))
                    .collect();
                ds.extend_from_slice(&self.data_source_extra);
                PostingList::build(ds)
            }
            _ => PostingList::build(self.purpose.clone()),
        }
    }

    /// Builds the posting lists that make this a sealed block.
    pub fn build_postings(&mut self) {
        let enumerate = |v: &Codes| {
            v.to_vec()
                .into_iter()
                .enumerate()
                .map(|(i, c)| (i as u32, c))
                .collect::<Vec<_>>()
        };
        let mut ds = enumerate(&self.data_source);
        ds.extend_from_slice(&self.data_source_extra);
        self.postings = Some(Postings {
            data_source: PostingList::build(ds),
            project: PostingList::build(enumerate(&self.project)),
            profile: PostingList::build(enumerate(&self.profile)),
            record_type: PostingList::build(enumerate(&self.record_type)),
            outcome: PostingList::build(
                self.outcome
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i as u32, *c as u32 + 1))
                    .collect(),
            ),
            purpose: PostingList::build(self.purpose.clone()),
        });
    }

    /// Stores the columns as narrow as this block allows (done once, when it is sealed).
    pub fn narrow_columns(&mut self) {
        self.time = self.time.narrowed(self.min_time, self.max_time);
        self.data_source = self.data_source.narrowed();
        self.project = self.project.narrowed();
        self.profile = self.profile.narrowed();
        self.record_type = self.record_type.narrowed();
    }

    /// Drops what a sealed, persisted block no longer needs in memory: id fingerprints (the
    /// dedup table has them) and the (row, purpose) pairs (the posting lists have them).
    pub fn release_persisted_only(&mut self) {
        self.fingerprints = Vec::new();
        if self.postings.is_some() {
            self.purpose = Vec::new();
        }
    }

    /// Where row `r` of this block lives in the log.
    pub fn location(&self, r: u32) -> Location {
        Location {
            segment: self.segment_of(r),
            offset: self.offset[r as usize],
        }
    }

    pub fn segment_of(&self, row: u32) -> u32 {
        run_value(&self.segment_runs, row).unwrap_or(0)
    }

    pub fn received_of(&self, row: u32) -> i64 {
        run_value(&self.received_runs, row).unwrap_or(0)
    }

    /// The per-value facet counts of `dim` (sealed blocks only: they need no further rows).
    pub fn value_facets(&self, dim: CountedDim) -> &ValueFacets {
        self.value_facets[dim as usize].get_or_init(|| ValueFacets::build(self, dim))
    }

    /// Builds a sealed block's derived indexes (per-value facet counts of every [`CountedDim`],
    /// time order) now, so that no search pays for them: about 8 ms per block, 1.3 CPU-seconds
    /// for the 153 blocks of 10M events.
    pub fn build_derived(&self) {
        if self.postings.is_some() {
            for dim in CountedDim::ALL {
                self.value_facets(dim);
            }
            self.time_order.get_or_init(|| self.sorted_by_time());
        }
    }

    /// The rows sorted by (time, row), if the block has at most 65,536 rows.
    fn sorted_by_time(&self) -> Option<Box<[u16]>> {
        let len = self.len();
        if len > 1 << 16 || self.max_time.saturating_sub(self.min_time) >= 1 << 47 {
            return None;
        }
        let mut keyed: Vec<u64> = (0..len)
            .map(|r| ((self.time.get(r) - self.min_time) as u64) << 16 | r as u64)
            .collect();
        keyed.sort_unstable();
        Some(keyed.into_iter().map(|k| k as u16).collect())
    }

    /// Bytes held by this block (estimate, for the memory report).
    pub fn heap_bytes(&self) -> usize {
        let cols = self.time.heap_bytes()
            + self.offset.capacity() * 4
            + self.data_source.heap_bytes()
            + self.project.heap_bytes()
            + self.profile.heap_bytes()
            + self.record_type.heap_bytes()
            + self.outcome.capacity()
            + (self.data_source_extra.capacity() + self.blob.capacity() + self.purpose.capacity())
                * 8
            + self.fingerprints.capacity() * 8
            + (self.segment_runs.capacity() * 8 + self.received_runs.capacity() * 16);
        let postings = self
            .postings
            .as_ref()
            .map_or(0, |p| p.lists().iter().map(|l| l.heap_bytes()).sum());
        let value_facets: usize = self
            .value_facets
            .iter()
            .filter_map(|v| v.get())
            .map(ValueFacets::heap_bytes)
            .sum();
        let time_order = self
            .time_order
            .get()
            .and_then(Option::as_ref)
            .map_or(0, |o| o.len() * 2);
        cols + postings + value_facets + time_order
    }
}

/// The block of a snapshot holding global `row`, and the row's index within it.
pub fn find_row(blocks: &[Arc<Block>], row: u64) -> (&Block, u32) {
    let b = &blocks[blocks.partition_point(|b| b.base_row <= row) - 1];
    (b, (row - b.base_row) as u32)
}

/// A query translated into dictionary codes. `None` = no restriction; an empty list = nothing
/// can match.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub data_source: Option<Vec<u32>>,
    pub scope: Option<Vec<u32>>,
    pub project: Option<Vec<u32>>,
    pub profile: Option<Vec<u32>>,
    pub record_type: Option<Vec<u32>>,
    /// Outcome codes + 1 (the postings key).
    pub outcome: Option<Vec<u32>>,
    pub blob: Option<Vec<u32>>,
    pub purpose: Option<Vec<u32>>,
    pub min_time: i64,
    pub max_time: i64,
}

fn codes_of(values: &[i64], dict: &IdDict) -> Option<Vec<u32>> {
    (!values.is_empty()).then(|| values.iter().filter_map(|v| dict.code(*v)).collect())
}

impl Compiled {
    pub fn new(q: &SearchQuery, d: &Dicts) -> Compiled {
        Compiled {
            data_source: codes_of(&q.data_source_ids, &d.data_source),
            scope: q
                .scope
                .as_ref()
                .map(|s| s.iter().filter_map(|v| d.data_source.code(*v)).collect()),
            project: codes_of(&q.project_ids, &d.project),
            profile: codes_of(&q.profile_ids, &d.profile),
            record_type: (!q.record_types.is_empty()).then(|| {
                q.record_types
                    .iter()
                    .filter_map(|r| d.record_type.code(r))
                    .collect()
            }),
            outcome: (!q.outcomes.is_empty())
                .then(|| q.outcomes.iter().map(|o| o.code() as u32 + 1).collect()),
            blob: q
                .blob_id
                .as_ref()
                .map(|b| d.blob.code(b).into_iter().collect()),
            purpose: q.purpose.map(|p| d.purpose.code(p).into_iter().collect()),
            min_time: q.min_time_ms.unwrap_or(i64::MIN),
            max_time: q.max_time_ms.unwrap_or(i64::MAX),
        }
    }

    fn time_ok(&self, t: i64) -> bool {
        t >= self.min_time && t <= self.max_time
    }

    fn has_time_filter(&self) -> bool {
        self.min_time != i64::MIN || self.max_time != i64::MAX
    }

    /// The dimension and codes when the filter is one [`CountedDim`] alone (besides time): then
    /// a sealed block wholly inside the time range matches exactly the rows of those values.
    fn counted_alone(&self) -> Option<(CountedDim, &[u32])> {
        let others = [&self.project, &self.profile, &self.blob];
        if others.iter().any(|f| f.is_some()) {
            return None;
        }
        let data_sources = match (&self.data_source, &self.scope) {
            (Some(codes), None) | (None, Some(codes)) => Some(codes),
            (None, None) => None,
            (Some(_), Some(_)) => return None,
        };
        match (
            &self.record_type,
            &self.outcome,
            &self.purpose,
            data_sources,
        ) {
            (Some(codes), None, None, None) => Some((CountedDim::RecordType, codes)),
            (None, Some(codes), None, None) => Some((CountedDim::Outcome, codes)),
            // Rows may hold two of several purposes: only one value's counts are exact.
            (None, None, Some(codes), None) if codes.len() == 1 => {
                Some((CountedDim::Purpose, codes))
            }
            (None, None, None, Some(codes)) => Some((CountedDim::DataSource, codes)),
            _ => None,
        }
    }

    fn holds_all_times_of(&self, b: &Block) -> bool {
        self.min_time <= b.min_time && b.max_time <= self.max_time
    }
}

/// Which rows of a block match.
#[derive(Clone, Debug)]
pub enum Match {
    None,
    All,
    Rows(RoaringBitmap),
}

impl Match {
    fn len(&self, block: &Block) -> u64 {
        match self {
            Match::None => 0,
            Match::All => block.len() as u64,
            Match::Rows(b) => b.len(),
        }
    }
}

fn rows_with(pairs: &[(u32, u32)], codes: &[u32]) -> RoaringBitmap {
    pairs
        .iter()
        .filter(|(_, c)| codes.contains(c))
        .map(|(r, _)| *r)
        .collect()
}

impl Block {
    /// Evaluates the filter over this block.
    pub fn evaluate(&self, q: &Compiled) -> Match {
        if self.is_empty() || self.max_time < q.min_time || self.min_time > q.max_time {
            return Match::None;
        }
        let mut acc: Option<RoaringBitmap> = None;
        let mut and = |bm: RoaringBitmap| -> bool {
            let next = match acc.take() {
                None => bm,
                Some(a) => a & bm,
            };
            let empty = next.is_empty();
            acc = Some(next);
            !empty
        };
        macro_rules! dim {
            ($filter:expr, $postings:ident, $scan:expr) => {
                if let Some(codes) = &$filter {
                    let bm = match &self.postings {
                        Some(p) => p.$postings.union_of(codes),
                        None => $scan(codes),
                    };
                    if !and(bm) {
                        return Match::None;
                    }
                }
            };
        }
        let scan_ds = |codes: &[u32]| -> RoaringBitmap {
            let mut b = self.data_source.rows_with(codes);
            b |= rows_with(&self.data_source_extra, codes);
            b
        };
        dim!(q.record_type, record_type, |c: &[u32]| self
            .record_type
            .rows_with(c));
        dim!(q.outcome, outcome, |c: &[u32]| self
            .outcome
            .iter()
            .enumerate()
            .filter(|(_, o)| c.contains(&(**o as u32 + 1)))
            .map(|(i, _)| i as u32)
            .collect::<RoaringBitmap>());
        dim!(q.profile, profile, |c: &[u32]| self.profile.rows_with(c));
        dim!(q.project, project, |c: &[u32]| self.project.rows_with(c));
        dim!(q.data_source, data_source, scan_ds);
        dim!(q.scope, data_source, scan_ds);
        if let Some(codes) = &q.blob {
            if !and(rows_with(&self.blob, codes)) {
                return Match::None;
            }
        }
        dim!(q.purpose, purpose, |c: &[u32]| rows_with(&self.purpose, c));
        let whole_block_in_time = self.min_time >= q.min_time && self.max_time <= q.max_time;
        if q.has_time_filter() && !whole_block_in_time {
            let bm: RoaringBitmap = match &acc {
                Some(a) => a
                    .iter()
                    .filter(|r| q.time_ok(self.time.get(*r as usize)))
                    .collect(),
                None => (0..self.len() as u32)
                    .filter(|r| q.time_ok(self.time.get(*r as usize)))
                    .collect(),
            };
            acc = Some(bm);
        }
        match acc {
            None => Match::All,
            Some(b) if b.is_empty() => Match::None,
            Some(b) if b.len() == self.len() as u64 => Match::All,
            Some(b) => Match::Rows(b),
        }
    }
}

/// The rows of a match bitmap, ascending.
///
/// Walking a roaring bitmap one value at a time costs about 10 ns a row, which dominated broad
/// queries (q03 of the suite: 2.7M matching rows at 10M events) and, for sparse blocks, queries
/// that union several values (q08: eight data sources, about 4,000 rows in each block). A block
/// holds at most 65,536 rows, so its bitmap is one container; read through roaring's portable
/// serialisation (the RoaringFormatSpec, without run containers), a dense container is 1,024
/// words whose set bits come out with `trailing_zeros`, and an array container is its sorted
/// `u16` rows, each several times faster. Anything else takes the generic path.
pub fn rows_of(bitmap: &RoaringBitmap) -> Vec<u32> {
    const NO_RUN_COOKIE: u32 = 12346;
    const HEADER_BYTES: usize = 16;
    const BITMAP_BYTES: usize = 8192;
    const MAX_ARRAY: usize = 4096;
    // Below this many rows, serialising costs more than it saves.
    const MIN_SERIALISED: usize = 64;
    let generic = || {
        let mut rows = Vec::with_capacity(bitmap.len() as usize);
        bitmap.iter().for_each(|r| rows.push(r));
        rows
    };
    let cardinality = bitmap.len() as usize;
    if cardinality < MIN_SERIALISED || bitmap.max().is_some_and(|m| m > u16::MAX as u32) {
        return generic();
    }
    let dense = cardinality > MAX_ARRAY;
    let body_bytes = if dense { BITMAP_BYTES } else { 2 * cardinality };
    let mut bytes = Vec::with_capacity(HEADER_BYTES + body_bytes);
    if bitmap.serialize_into(&mut bytes).is_err() {
        return generic();
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    // cookie, one container (key 0, cardinality - 1), its offset (16), then its body.
    let one_container = bytes.len() == HEADER_BYTES + body_bytes
        && word(0) == NO_RUN_COOKIE
        && word(4) == 1
        && word(8) == (cardinality as u32 - 1) << 16
        && word(12) == HEADER_BYTES as u32;
    if !one_container {
        return generic();
    }
    let body = &bytes[HEADER_BYTES..];
    let mut rows = Vec::with_capacity(cardinality);
    if dense {
        for (i, w) in body.chunks_exact(8).enumerate() {
            let mut w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            while w != 0 {
                rows.push(i as u32 * 64 + w.trailing_zeros());
                w &= w - 1;
            }
        }
    } else {
        rows.extend(
            body.chunks_exact(2)
                .map(|r| u32::from(u16::from_le_bytes([r[0], r[1]]))),
        );
    }
    if rows.len() != cardinality {
        return generic();
    }
    rows
}

/// Counts and facet tallies over one or more blocks.
#[derive(Clone, Debug)]
struct Tally {
    count: u64,
    data_source: Vec<u64>,
    project: Vec<u64>,
    profile: Vec<u64>,
    record_type: Vec<u64>,
    outcome: [u64; 6],
}

impl Tally {
    fn new(sizes: &DictSizes) -> Tally {
        Tally {
            count: 0,
            data_source: vec![0; sizes.data_source],
            project: vec![0; sizes.project],
            profile: vec![0; sizes.profile],
            record_type: vec![0; sizes.record_type],
            outcome: [0; 6],
        }
    }

    fn merge(mut self, o: Tally) -> Tally {
        self.count += o.count;
        for (a, b) in self.data_source.iter_mut().zip(&o.data_source) {
            *a += b;
        }
        for (a, b) in self.project.iter_mut().zip(&o.project) {
            *a += b;
        }
        for (a, b) in self.profile.iter_mut().zip(&o.profile) {
            *a += b;
        }
        for (a, b) in self.record_type.iter_mut().zip(&o.record_type) {
            *a += b;
        }
        for (a, b) in self.outcome.iter_mut().zip(&o.outcome) {
            *a += b;
        }
        self
    }

    fn add_block(&mut self, block: &Block, m: &Match, pinned: Pinned, q: &Compiled) {
        if let (Match::Rows(bitmap), true, Some((dim, codes))) =
            (m, block.postings.is_some(), q.counted_alone())
        {
            if q.holds_all_times_of(block) {
                self.add_values(block, dim, codes, bitmap.len());
                return;
            }
        }
        match m {
            Match::None => {}
            Match::All if block.postings.is_some() => {
                let p = block.postings.as_ref().expect("checked");
                self.count += block.len() as u64;
                for (code, n) in p.data_source.counts() {
                    self.data_source[code as usize] += n;
                }
                for (code, n) in p.project.counts() {
                    self.project[code as usize] += n;
                }
                for (code, n) in p.profile.counts() {
                    self.profile[code as usize] += n;
                }
                for (code, n) in p.record_type.counts() {
                    self.record_type[code as usize] += n;
                }
                for (code, n) in p.outcome.counts() {
                    self.outcome[code as usize - 1] += n;
                }
            }
            Match::All => {
                let rows: Vec<u32> = (0..block.len() as u32).collect();
                self.add_rows(block, &rows, pinned);
                for (_, c) in &block.data_source_extra {
                    self.data_source[*c as usize] += 1;
                }
            }
            Match::Rows(bitmap) => {
                let rows = rows_of(bitmap);
                let mut pinned = pinned;
                // Many matched rows: six posting-list intersections beat walking the column.
                if let (None, Some(p)) = (pinned.outcome, &block.postings) {
                    if rows.len() > DENSE_ROWS {
                        for (code, n) in p.outcome.intersection_counts(bitmap) {
                            self.outcome[code as usize - 1] += n;
                        }
                        pinned.outcome_counted = true;
                    }
                }
                self.add_rows(block, &rows, pinned);
                for (r, c) in &block.data_source_extra {
                    if bitmap.contains(*r) {
                        self.data_source[*c as usize] += 1;
                    }
                }
            }
        }
    }

    /// Counts the rows of a sealed block holding any of `codes` of `dim` (`rows` of them) from
    /// its per-value facet counts.
    fn add_values(&mut self, b: &Block, dim: CountedDim, codes: &[u32], rows: u64) {
        self.count += rows;
        let by_value = b.value_facets(dim);
        let mut seen: Vec<u32> = Vec::with_capacity(codes.len());
        for &code in codes {
            if seen.contains(&code) {
                continue;
            }
            seen.push(code);
            let Some([data_source, project, profile, record_type, outcome]) =
                by_value.of_value(code)
            else {
                continue;
            };
            for (counts, target) in [
                (data_source, &mut self.data_source),
                (project, &mut self.project),
                (profile, &mut self.profile),
                (record_type, &mut self.record_type),
            ] {
                for (c, n) in counts {
                    target[*c as usize] += *n as u64;
                }
            }
            for (c, n) in outcome {
                self.outcome[*c as usize - 1] += *n as u64;
            }
        }
        if dim == CountedDim::DataSource && seen.len() > 1 {
            self.remove_repeats_of_multi_source_rows(b, &seen);
        }
    }

    /// A row holding `m` > 1 of the filter's data sources was added once per value: takes
    /// away `m - 1` of its contributions. Only rows with extra data sources can hold several.
    fn remove_repeats_of_multi_source_rows(&mut self, b: &Block, codes: &[u32]) {
        for (row, extras) in b.extras_by_row() {
            let held = b.data_sources_of(row, extras);
            let mut distinct: Vec<u32> = held.clone().filter(|c| codes.contains(c)).collect();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() > 1 {
                let repeats = distinct.len() as u64 - 1;
                for c in held {
                    self.data_source[c as usize] -= repeats;
                }
                self.project[b.project.get(row) as usize] -= repeats;
                self.profile[b.profile.get(row) as usize] -= repeats;
                self.record_type[b.record_type.get(row) as usize] -= repeats;
                self.outcome[b.outcome[row] as usize] -= repeats;
            }
        }
    }

    /// Counts the given rows of a block, one column at a time (tight loops the CPU pipelines
    /// well), skipping dimensions the filter pins to one value.
    fn add_rows(&mut self, b: &Block, rows: &[u32], pinned: Pinned) {
        self.count += rows.len() as u64;
        // A pinned column's rows all hold its one code: add them there without reading it.
        let count = |counts: &mut [u64], column: &Codes, pinned: Option<u32>| match pinned {
            Some(code) => counts[code as usize] += rows.len() as u64,
            None => column.count_rows(counts, rows),
        };
        b.data_source.count_rows(&mut self.data_source, rows);
        count(&mut self.project, &b.project, pinned.project);
        count(&mut self.profile, &b.profile, pinned.profile);
        count(&mut self.record_type, &b.record_type, pinned.record_type);
        match pinned.outcome {
            _ if pinned.outcome_counted => {}
            Some(code) => self.outcome[code as usize] += rows.len() as u64,
            None => {
                let mut c = [0u64; 6];
                for &r in rows {
                    c[b.outcome[r as usize] as usize] += 1;
                }
                for (a, n) in self.outcome.iter_mut().zip(c) {
                    *a += n;
                }
            }
        }
    }
}

/// Dimensions whose every matching row holds the same, known value (the filter names one).
/// Not data sources: an event may have several, and match by one that its column does not
/// hold.
#[derive(Clone, Copy, Debug, Default)]
struct Pinned {
    project: Option<u32>,
    profile: Option<u32>,
    record_type: Option<u32>,
    /// Outcome code (not + 1).
    outcome: Option<u8>,
    /// The outcome facet of this block was already counted another way.
    outcome_counted: bool,
}

impl Pinned {
    fn of(q: &Compiled) -> Pinned {
        let one = |v: &Option<Vec<u32>>| v.as_ref().filter(|c| c.len() == 1).map(|c| c[0]);
        Pinned {
            project: one(&q.project),
            profile: one(&q.profile),
            record_type: one(&q.record_type),
            outcome: one(&q.outcome).map(|c| (c - 1) as u8),
            outcome_counted: false,
        }
    }
}

/// Dictionary sizes captured after a snapshot: every code in the snapshot is below them.
#[derive(Clone, Copy, Debug)]
pub struct DictSizes {
    pub data_source: usize,
    pub project: usize,
    pub profile: usize,
    pub record_type: usize,
}

impl DictSizes {
    pub fn of(d: &Dicts) -> DictSizes {
        DictSizes {
            data_source: d.data_source.len_with_none(),
            project: d.project.len_with_none(),
            profile: d.profile.len_with_none(),
            record_type: d.record_type.len_with_none(),
        }
    }
}

/// The rows of one answer page, by global row number, plus everything else of the answer; the
/// facets' counts are named by [`RawAnswer::facets`].
pub struct RawAnswer {
    pub page_rows: Vec<u64>,
    pub count: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    tally: Tally,
}

impl RawAnswer {
    /// The five facets, named from the dictionaries. Only this step reads them, so a search
    /// holds the dictionaries' read lock for microseconds, not for its whole evaluation, and
    /// never queues behind (or holds up) an ingest that is interning new values.
    pub fn facets(&self, q: &Compiled, dicts: &Dicts) -> Facets {
        facets_of(&self.tally, q, dicts)
    }
}

/// Runs a compiled query over a snapshot of blocks: over the rayon pool when `parallel`, else
/// on the calling thread only (see [`EmbeddedStore::search_blocking`](super::EmbeddedStore)).
pub fn execute(
    blocks: &[Arc<Block>],
    q: &Compiled,
    query: &SearchQuery,
    sizes: DictSizes,
    parallel: bool,
) -> RawAnswer {
    let pinned = Pinned::of(q);
    let add = |mut t: Tally, (b, m): (&Arc<Block>, &Match)| {
        t.add_block(b, m, pinned, q);
        t
    };
    let (matches, tally) = if parallel {
        let matches: Vec<Match> = blocks.par_iter().map(|b| b.evaluate(q)).collect();
        let tally = blocks
            .par_iter()
            .zip(matches.par_iter())
            .fold(|| Tally::new(&sizes), add)
            .reduce(|| Tally::new(&sizes), Tally::merge);
        (matches, tally)
    } else {
        let matches: Vec<Match> = blocks.iter().map(|b| b.evaluate(q)).collect();
        let tally = blocks.iter().zip(&matches).fold(Tally::new(&sizes), add);
        (matches, tally)
    };
    let times = (q.min_time, q.max_time);
    let page_rows = top_rows(
        blocks,
        &matches,
        times,
        query.offset,
        query.size,
        query.sort_order,
    );
    // The earliest and latest matching times are the first hit of each sort order: the
    // zone-map-pruned top-1 finds them without walking the time column of every match.
    let time_of = |row: u64| {
        let (b, r) = find_row(blocks, row);
        b.time.get(r as usize)
    };
    let min_time = top_rows(blocks, &matches, times, 0, 1, SortOrder::Asc)
        .first()
        .map(|r| time_of(*r));
    let max_time = top_rows(blocks, &matches, times, 0, 1, SortOrder::Desc)
        .first()
        .map(|r| time_of(*r));
    RawAnswer {
        page_rows,
        count: tally.count,
        min_time,
        max_time,
        tally,
    }
}

fn facets_of(t: &Tally, q: &Compiled, d: &Dicts) -> Facets {
    let id_facet = |counts: &[u64], dict: &IdDict, keep: &dyn Fn(u32) -> bool| {
        let entries = counts
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(code, n)| **n > 0 && keep(*code as u32))
            .map(|(code, n)| FacetEntry {
                id: dict.ids[code - 1],
                name: dict.names[code - 1].clone(),
                count: *n,
            })
            .collect();
        finish_id_facet(entries)
    };
    let in_scope = |code: u32| q.scope.as_ref().is_none_or(|s| s.contains(&code));
    Facets {
        datasources: id_facet(&t.data_source, &d.data_source, &in_scope),
        projects: id_facet(&t.project, &d.project, &|_| true),
        users: id_facet(&t.profile, &d.profile, &|_| true),
        record_types: finish_name_facet(
            t.record_type
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, n)| **n > 0)
                .map(|(code, n)| NameCount {
                    name: d.record_type.names[code - 1].clone(),
                    count: *n,
                })
                .collect(),
        ),
        outcomes: finish_name_facet(
            t.outcome
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .filter_map(|(code, n)| {
                    Outcome::from_code(code as u8).map(|o| NameCount {
                        name: o.as_str().to_string(),
                        count: *n,
                    })
                })
                .collect(),
        ),
    }
}

/// The global rows of the requested page: ordered by (time, row) in the sort direction.
/// `times` are the query's inclusive time bounds (every match lies within them).
fn top_rows(
    blocks: &[Arc<Block>],
    matches: &[Match],
    times: (i64, i64),
    offset: u64,
    size: usize,
    order: SortOrder,
) -> Vec<u64> {
    let total: u64 = blocks.iter().zip(matches).map(|(b, m)| m.len(b)).sum();
    if size == 0 || offset >= total {
        return Vec::new();
    }
    let k = (offset + size as u64).min(total) as usize;
    if k >= DEEP_PAGE {
        if let Some(rows) = page_by_counting(blocks, matches, offset, k, order) {
            return rows;
        }
    }
    let desc = order == SortOrder::Desc;
    // "Larger is better" keys in both directions.
    let key = |t: i64, row: u64| {
        if desc {
            (t, row as i64)
        } else {
            (-t, -(row as i64))
        }
    };
    let mut order_idx: Vec<usize> = (0..blocks.len())
        .filter(|i| !matches!(matches[*i], Match::None))
        .collect();
    if desc {
        order_idx.sort_by_key(|&i| Reverse(blocks[i].max_time));
    } else {
        order_idx.sort_by_key(|&i| blocks[i].min_time);
    }
    // Buffered top-k: candidates above the k-th best key found so far (`floor`) are pushed
    // unsorted and cut back to the best k whenever the buffer doubles, linear time where a heap
    // of k paid log k per row (q11, offset 100,000, scans millions of rows when late events
    // make many blocks span the whole time range). `floor` also prunes whole blocks.
    let compact_at = (2 * k).max(k + 4096);
    let mut candidates: Vec<(i64, i64)> = Vec::with_capacity(compact_at.min(total as usize));
    let mut floor: Option<(i64, i64)> = None;
    let keep_best = |candidates: &mut Vec<(i64, i64)>, floor: &mut Option<(i64, i64)>| {
        if candidates.len() >= k {
            candidates.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
            candidates.truncate(k);
            *floor = Some(candidates[k - 1]);
        }
    };
    let push = |candidates: &mut Vec<(i64, i64)>, floor: &mut Option<(i64, i64)>, candidate| {
        candidates.push(candidate);
        if candidates.len() >= compact_at {
            keep_best(candidates, floor);
        }
    };
    for i in order_idx {
        let b = &blocks[i];
        let best = if desc {
            key(b.max_time, b.base_row + b.len() as u64 - 1)
        } else {
            key(b.min_time, b.base_row)
        };
        if floor.is_some_and(|f| best <= f) {
            continue;
        }
        let matching = matches[i].len(b);
        // The block's rows within the query's times, by time: every match is among them.
        let time_order = b.time_order.get().and_then(Option::as_deref).map(|order| {
            let time_of = |r: &u16| b.time.get(usize::from(*r));
            let from = order.partition_point(|r| time_of(r) < times.0);
            let to = order.partition_point(|r| time_of(r) <= times.1);
            &order[from..to.max(from)]
        });
        // Walking the time order visits about k × rows / matching rows if the matches are
        // spread over the times of those rows (fewer once the floor stops it); offering each match
        // visits `matching`. Walk when that is cheaper, and give up (offering the matches not
        // walked yet) after 2 × matching visits, when they are bunched at the far end (a time
        // range).
        let mut offer_below: Option<(i64, i64)> = None;
        // A visit tests membership: one bit of a bitmap (all rows, or over 4,096 matches), or
        // a binary search of a sorted array (fewer), which costs about eight offers.
        let visit_cost = match &matches[i] {
            Match::Rows(rows) if rows.len() <= 4096 => 8,
            _ => 1,
        };
        if let Some(time_order) = time_order.filter(|order| {
            matching.saturating_mul(matching)
                >= visit_cost * (k.min(order.len()) as u64) * order.len() as u64
        }) {
            let mut ordered_forward;
            let mut ordered_backward;
            let rows: &mut dyn Iterator<Item = &u16> = if desc {
                ordered_backward = time_order.iter().rev();
                &mut ordered_backward
            } else {
                ordered_forward = time_order.iter();
                &mut ordered_forward
            };
            let budget = 2 * matching + 64;
            let mut taken = 0;
            // Rows come best first: stop at the floor, or once this block alone gave k.
            for (visited, &r) in (1..).zip(rows) {
                let r = u32::from(r);
                let candidate = key(b.time.get(r as usize), b.base_row + r as u64);
                if floor.is_some_and(|f| candidate <= f) {
                    break;
                }
                let hit = match &matches[i] {
                    Match::None => false,
                    Match::All => true,
                    Match::Rows(rows) => rows.contains(r),
                };
                if hit {
                    push(&mut candidates, &mut floor, candidate);
                    taken += 1;
                    if taken == k {
                        break;
                    }
                }
                if visited >= budget {
                    offer_below = Some(candidate);
                    break;
                }
            }
            if offer_below.is_none() {
                // A walk adds at most k rows, so the buffer would rarely reach `compact_at` and
                // no floor would prune the blocks that follow: set it now, while that is cheap.
                if k <= 4096 && candidates.len() >= k {
                    keep_best(&mut candidates, &mut floor);
                }
                continue;
            }
        }
        let mut offer = |r: u32| {
            let candidate = key(b.time.get(r as usize), b.base_row + r as u64);
            if floor.is_none_or(|f| candidate > f) && offer_below.is_none_or(|l| candidate < l) {
                push(&mut candidates, &mut floor, candidate);
            }
        };
        match &matches[i] {
            Match::None => {}
            Match::All => (0..b.len() as u32).for_each(&mut offer),
            Match::Rows(rows) => rows.iter().for_each(&mut offer),
        }
    }
    keep_best(&mut candidates, &mut floor);
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    candidates
        .into_iter()
        .skip(offset as usize)
        .take(size)
        .map(|(_, row)| if desc { row as u64 } else { (-row) as u64 })
        .collect()
}

/// From this many rows to skip and return on, [`top_rows`] first tries [`page_by_counting`].
const DEEP_PAGE: usize = 2048;

/// The page of ranks `offset..k` (in `order`) found by counting rather than by offering
/// candidates: q11 of the suite (offset 100,000, every row matching) offered hundreds of
/// thousands of rows because late events make every block span the whole time range.
///
/// Each matching block's rows sorted by (time, row) (its time order; the matches of a bitmap
/// sorted here) count the matches before any time with a binary search, so a binary search
/// over time finds the times of the first and last ranks of the page; only the rows between
/// those times are gathered and sorted. `None` when that would sort more rows than a deep page is worth
/// (many matches of sealed blocks held in bitmaps, say), or a block has more than 65,536 rows.
fn page_by_counting(
    blocks: &[Arc<Block>],
    matches: &[Match],
    offset: u64,
    k: usize,
    order: SortOrder,
) -> Option<Vec<u64>> {
    use std::borrow::Cow;
    let desc = order == SortOrder::Desc;
    let mut lists: Vec<(&Block, Cow<[u16]>)> = Vec::new();
    let mut sorted_here = 0usize;
    for (b, m) in blocks.iter().zip(matches) {
        let list = match m {
            Match::None => continue,
            // A block is never changed once published, so an open chunk keeps the order
            // sorted for it here for the next deep page, as a sealed block keeps its own.
            Match::All => {
                Cow::Borrowed(b.time_order.get_or_init(|| b.sorted_by_time()).as_deref()?)
            }
            Match::Rows(rows) => {
                if b.len() > 1 << 16 {
                    return None;
                }
                let mut rows: Vec<u16> = rows_of(rows).into_iter().map(|r| r as u16).collect();
                rows.sort_unstable_by_key(|r| (b.time.get(usize::from(*r)), *r));
                Cow::Owned(rows)
            }
        };
        if let Cow::Owned(rows) = &list {
            sorted_here += rows.len();
            if sorted_here > k + (1 << 16) {
                return None;
            }
        }
        if !list.is_empty() {
            lists.push((b, list));
        }
    }
    let time = |b: &Block, r: u16| b.time.get(usize::from(r));
    // A block's cut at time `t`: its rows at or before `t` (desc), or before `t` (asc). The
    // rows of the list before `t` in the page's order are those after the cut (desc), or
    // before it (asc).
    let cut = |b: &Block, rows: &[u16], t: i64| {
        if desc {
            rows.partition_point(|r| time(b, *r) <= t)
        } else {
            rows.partition_point(|r| time(b, *r) < t)
        }
    };
    let before_cut = |list: &[u16], cut: usize| if desc { list.len() - cut } else { cut } as u64;
    // Matches before time `t` in the page's order: later than `t` (desc) or earlier (asc).
    let before = |t: i64| -> u64 {
        (lists.iter())
            .map(|(b, list)| before_cut(list, cut(b, list, t)))
            .sum()
    };
    let earliest = lists.iter().map(|(b, l)| time(b, l[0])).min()?;
    let latest = lists.iter().map(|(b, l)| time(b, l[l.len() - 1])).max()?;
    // The time of the match at `rank`: the least time with at most `rank` matches before it
    // (desc), or the greatest (asc). Each block's cut only moves within the window its earlier
    // cuts left, so every block is searched in a shrinking, cache-friendly slice rather than
    // from scratch at each step.
    let time_at = |rank: u64| -> i64 {
        let (mut lo, mut hi) = (earliest, latest);
        let mut windows: Vec<(usize, usize)> = lists.iter().map(|(_, l)| (0, l.len())).collect();
        let mut cuts = vec![0usize; lists.len()];
        while lo < hi {
            let half = ((i128::from(hi) - i128::from(lo)) / 2) as i64;
            let mid = if desc { lo + half } else { hi - half };
            let mut before_mid = 0u64;
            for (((b, list), &(from, to)), at) in lists.iter().zip(&windows).zip(&mut cuts) {
                *at = from + cut(b, &list[from..to], mid);
                before_mid += before_cut(list, *at);
            }
            // Few enough before `mid`: the answer is `mid` or beyond it in the page order (at or
            // below it in time, desc; at or above it, asc). The cuts bound the windows there.
            let few_before_mid = before_mid <= rank;
            let keep_low_cuts = desc == few_before_mid;
            for (window, cut) in windows.iter_mut().zip(&cuts) {
                if keep_low_cuts {
                    window.1 = *cut;
                } else {
                    window.0 = *cut;
                }
            }
            match (desc, few_before_mid) {
                (true, true) => hi = mid,
                (true, false) => lo = mid + 1,
                (false, true) => lo = mid,
                (false, false) => hi = mid - 1,
            }
        }
        lo
    };
    let (first, last) = (time_at(offset), time_at(k as u64 - 1));
    let (from_time, to_time) = if desc { (last, first) } else { (first, last) };
    let mut page: Vec<(i64, u64)> = Vec::new();
    for (b, list) in &lists {
        let from = list.partition_point(|r| time(b, *r) < from_time);
        let to = list.partition_point(|r| time(b, *r) <= to_time);
        page.extend(
            list[from..to.max(from)]
                .iter()
                .map(|r| (time(b, *r), b.base_row + u64::from(*r))),
        );
    }
    page.sort_unstable();
    if desc {
        page.reverse();
    }
    let skip = (offset - before(first)) as usize;
    Some(
        page.into_iter()
            .skip(skip)
            .take(k - offset as usize)
            .map(|(_, row)| row)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The counting sort that groups a column by code equals sorting by (code, row) and
        /// dropping duplicates and code 0, whatever the order the pairs come in and however
        /// sparse the codes are.
        #[test]
        fn grouping_by_code_equals_sorting_by_code_then_row(
            mut pairs in proptest::collection::vec((0u32..300, 0u32..40), 0..400),
            sparse_codes in any::<bool>(),
            rows_in_order in any::<bool>(),
        ) {
            if sparse_codes {
                pairs.iter_mut().for_each(|p| p.1 *= 100_000);
            }
            if rows_in_order {
                pairs.sort_by_key(|p| p.0);
            }
            let mut expected: Vec<(u32, u32)> = pairs.iter().copied().filter(|p| p.1 != 0).collect();
            expected.sort_unstable_by_key(|&(row, code)| (code, row));
            expected.dedup();
            prop_assert_eq!(grouped_by_code(pairs), expected);
        }
    }

    proptest! {
        /// The fast path for dense block bitmaps and the generic one agree with roaring's own
        /// iteration, sparse or dense, within one block's rows or beyond them.
        #[test]
        fn rows_of_lists_every_row_of_the_bitmap_ascending(
            density in 1u32..64, seed in any::<u64>(), beyond in any::<bool>()
        ) {
            let mut x = seed;
            let span = if beyond { 200_000 } else { 65_536 };
            let bitmap: RoaringBitmap = (0..span)
                .filter(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (x >> 33) as u32 % 64 < density
                })
                .collect();
            prop_assert_eq!(rows_of(&bitmap), bitmap.iter().collect::<Vec<u32>>());
        }
    }

    proptest! {
        /// Counting codes per key through rows grouped by key equals sorting the
        /// (key, code) pairs and measuring the runs.
        #[test]
        fn codes_counted_per_key_equal_sorted_runs(
            rows in prop::collection::vec((0u32..80, 0u32..3000), 0..2000),
        ) {
            let keys: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let by_key = RowsByKey::new(&keys);
            let mut counter = CodeCounter::new(3000);
            let mut counted = Vec::new();
            for (i, k) in by_key.keys.iter().enumerate() {
                let group = by_key.rows_of(i);
                prop_assert!(group.windows(2).all(|w| w[0] < w[1]), "rows in row order");
                group.iter().for_each(|r| counter.add(rows[*r as usize].1));
                counted.extend(counter.take_sorted().into_iter().map(|(c, n)| (*k, c, n)));
            }
            let mut sorted = rows.clone();
            sorted.sort_unstable();
            let want: Vec<(u32, u32, u32)> = sorted
                .chunk_by(|a, b| a == b)
                .map(|r| (r[0].0, r[0].1, r.len() as u32))
                .collect();
            prop_assert_eq!(counted, want);
        }
    }

    /// Pages from blocks whose times overlap (events that arrived late), with ties in time,
    /// deep offsets and both orders, equal those of a full sort by (time, row). The blocks hold
    /// enough rows that the candidate buffer is cut back several times.
    #[test]
    fn top_rows_equal_a_full_sort_across_overlapping_blocks() {
        let mut dicts = Dicts::default();
        let mut x = 42u64;
        let mut blocks = Vec::new();
        let mut times = Vec::new();
        for b in 0..5u64 {
            let mut block = Block::new(b * 6000);
            for _ in 0..6000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let time = (x >> 33) as i64 % 5000;
                times.push(time);
                let dims = Dimensions {
                    id: String::new(),
                    form: trail_model::EventForm::Legacy,
                    event_time_ms: time,
                    data_sources: Vec::new(),
                    project: None,
                    profile_id: None,
                    user_id: None,
                    email: None,
                    record_type: "r".into(),
                    outcome: Outcome::Success,
                    blob_id: None,
                    purpose_ids: Vec::new(),
                };
                let location = Location {
                    segment: 0,
                    offset: 0,
                };
                block.push_event(&mut dicts, &dims, location, 0, 0);
            }
            blocks.push(Arc::new(block));
        }
        let odd_rows: RoaringBitmap = (0..6000).filter(|r| r % 2 == 1).collect();
        let sparse_rows: RoaringBitmap = (0..6000).filter(|r| r % 700 == 3).collect();
        // Matches bunched at the earliest times, as a time range makes them (and a few of the
        // latest): walking from the latest takes those few, gives up and offers the rest.
        let early = |row: u64| times[row as usize] < 400 || times[row as usize] > 4990;
        let early_rows: RoaringBitmap =
            (0..6000u32).filter(|r| early(24_000 + *r as u64)).collect();
        let matches = vec![
            Match::All,
            Match::Rows(odd_rows),
            Match::Rows(sparse_rows),
            Match::All,
            Match::Rows(early_rows),
            Match::None,
        ];
        blocks.push(Arc::new(Block::new(30_000)));
        let matching: Vec<u64> = (0..30_000u64)
            .filter(|row| match (row / 6000, row % 6000) {
                (1, r) => r % 2 == 1,
                (2, r) => r % 700 == 3,
                (4, _) => early(*row),
                _ => true,
            })
            .collect();
        // First by offering every match, then walking the blocks' time orders (the sparse
        // block is still offered: walking it would cost more).
        for walk in [false, true] {
            if walk {
                for b in &blocks {
                    b.time_order.get_or_init(|| b.sorted_by_time());
                }
            }
            for (offset, size, order) in [
                (0, 50, SortOrder::Desc),
                (0, 1, SortOrder::Asc),
                (100, 20, SortOrder::Asc),
                (9_000, 100, SortOrder::Desc),
                (14_990, 50, SortOrder::Asc),
                (0, 7, SortOrder::Desc),
                (0, 20_000, SortOrder::Desc),
            ] {
                let mut expected = matching.clone();
                expected.sort_by_key(|&row| (times[row as usize], row));
                if order == SortOrder::Desc {
                    expected.reverse();
                }
                let expected: Vec<u64> = expected.into_iter().skip(offset).take(size).collect();
                assert_eq!(
                    top_rows(
                        &blocks,
                        &matches,
                        (i64::MIN, i64::MAX),
                        offset as u64,
                        size,
                        order
                    ),
                    expected,
                    "offset {offset}, size {size}, {order:?}, walk {walk}"
                );
            }
        }
        // The bunched block alone, latest first: the walk starts at the far end from its
        // matches, gives up, and the matches below where it stopped are offered.
        let mut bunched: Vec<u64> = matching.iter().copied().filter(|r| r / 6000 == 4).collect();
        bunched.sort_by_key(|&row| Reverse((times[row as usize], row)));
        for size in [1, 7, 30] {
            assert_eq!(
                top_rows(
                    &blocks[4..5],
                    &matches[4..5],
                    (i64::MIN, i64::MAX),
                    0,
                    size,
                    SortOrder::Desc
                ),
                bunched[..size],
                "bunched block, size {size}"
            );
        }
        // With the query's time range known, the walk starts inside it.
        let in_range = |row: &u64| times[*row as usize] < 400;
        let early_only: RoaringBitmap = (0..6000u32)
            .filter(|r| in_range(&(24_000 + *r as u64)))
            .collect();
        let early_sorted: Vec<u64> = bunched.iter().copied().filter(in_range).collect();
        for (size, order) in [
            (1, SortOrder::Desc),
            (30, SortOrder::Desc),
            (5, SortOrder::Asc),
        ] {
            let mut expected = early_sorted.clone();
            if order == SortOrder::Asc {
                expected.reverse();
            }
            assert_eq!(
                top_rows(
                    &blocks[4..5],
                    &[Match::Rows(early_only.clone())],
                    (0, 399),
                    0,
                    size,
                    order
                ),
                expected[..size],
                "time range, size {size}, {order:?}"
            );
        }
    }
}
