//! Metric series: one metric's values in one run, delta-encoded in bytes.
//!
//! Metric points are most of what a lineage graph of ML runs holds (a run
//! logs hundreds: 20 metrics x 10 steps in the benchmark's workload, where
//! they were over half of the graph's memory). Open, a point is 28 bytes;
//! encoded as differences from its neighbour, about 15. A series is its key,
//! its point count and its points' encoding, newest first: the latest value
//! (what run views show) is the first point, decoded on its own, and a new
//! point, almost always the newest, re-encodes only the point it displaces
//! from the front. Keeping the newest point open beside the bytes would
//! spare that decoding, at 28 bytes in each of millions of series.
//!
//! The newest point is written whole, its time and value as fixed 8 bytes
//! (read with two loads, as every run view reads it; as varints they would
//! take 9 or 10 bytes each):
//!
//! ```text
//! step (zigzag varint) | timestamp in ns (i64 LE) | value bits (u64 LE)
//! | stamp index (varint)
//! ```
//!
//! Every other point relative to the point before it in the bytes (the
//! next newer one), LEB128 varints:
//!
//! ```text
//! step delta (zigzag) | timestamp delta in ns (zigzag)
//! | value bits XOR the previous value's bits | stamp index delta (zigzag)
//! ```
//!
//! XOR makes a repeated value one byte; a fresh one takes at most ten.
//! A point recorded out of order (a late or reordered event, common:
//! producers' batches interleave) is spliced in: the series is decoded up
//! to its place and only the point after it is re-encoded, since every
//! other delta stays the same. Linear in the series' length, as the vector
//! insert it replaces was.

use crate::event::{EventTime, Stamp};
use crate::graph::{Name, StampRef, StampTable};

/// One value of a metric, with (an index to) the stamp of the event that
/// logged it.
///
/// Packed to 4-byte alignment, which saves the 4 bytes of padding the
/// stamp index would otherwise cost; read fields by value (a reference to
/// a field of a packed struct is not allowed).
#[derive(Clone, Copy, PartialEq, Debug)]
#[repr(C, packed(4))]
pub struct MetricPointFacts {
    pub step: i64,
    pub timestamp: EventTime,
    pub value: f64,
    /// Index into the graph's stamp table.
    pub(crate) stamp: u32,
}

impl MetricPointFacts {
    fn at(&self) -> (i64, EventTime) {
        (self.step, self.timestamp)
    }
}

/// One metric's values in one run, sorted by (step, timestamp); never
/// empty.
#[derive(Clone, PartialEq, Debug)]
pub struct MetricSeries {
    key: Name,
    /// Every point, newest first, delta-encoded (see the module docs). A
    /// boxed slice of exactly the points' bytes: a `Vec` would cost a
    /// capacity word and, grown ahead of need, spare bytes in each of the
    /// hundreds of series a run has.
    encoded: Box<[u8]>,
    len: u32,
}

/// Why bytes are not a valid encoded series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeriesError {
    /// No points, or fewer than the count said.
    Truncated,
    /// A varint runs past ten bytes or out of the bytes.
    BadVarint,
    /// Points not in strictly decreasing (step, timestamp) order.
    OutOfOrder,
    /// A timestamp outside the accepted range.
    BadTime,
    /// A stamp index outside the stamp table.
    BadStamp,
    /// More bytes than the points said.
    TrailingBytes,
}

impl MetricSeries {
    /// A series of one point.
    pub(crate) fn new(key: Name, point: MetricPointFacts) -> Self {
        Self {
            key,
            encoded: PointBytes::of(None, &point).as_slice().into(),
            len: 1,
        }
    }

    /// A series of points already in strictly increasing (step, timestamp)
    /// order, or `None` if there are none.
    pub(crate) fn from_sorted(
        key: Name,
        points: impl IntoIterator<Item = MetricPointFacts>,
    ) -> Option<Self> {
        let points: Vec<MetricPointFacts> = points.into_iter().collect();
        let len = u32::try_from(points.len()).ok().filter(|&len| len > 0)?;
        Some(Self {
            key,
            encoded: encode(points.iter().rev()).into_boxed_slice(),
            len,
        })
    }

    /// A series from an encoding of `len` points newest first, checked
    /// point by point ([`check_encoded`]).
    pub(crate) fn from_encoded(
        key: Name,
        encoded: &[u8],
        len: u32,
        stamps: usize,
    ) -> Result<Self, SeriesError> {
        check_encoded(encoded, len, stamps)?;
        Ok(Self {
            key,
            encoded: encoded.into(),
            len,
        })
    }

    /// A series from an encoding of `len` points newest first that the
    /// caller checks with [`check_encoded`] before the series is used: a
    /// snapshot's series are checked on another thread while the rest of
    /// it is read.
    pub(crate) fn from_encoded_checked_apart(key: Name, encoded: &[u8], len: u32) -> Self {
        Self {
            key,
            encoded: encoded.into(),
            len,
        }
    }

    /// Records a value logged by the event of `stamp` at log sequence
    /// `seq`; a point re-logged at the same (step, timestamp) keeps the
    /// value of the greatest stamp. `stamp_index` gives the index of
    /// `stamp` in `table`, adding it on first use. Returns the point that
    /// lost, the new one or the one it replaced, if either did.
    #[allow(clippy::too_many_arguments)] // one point and where it goes
    pub(crate) fn record(
        &mut self,
        step: i64,
        timestamp: EventTime,
        value: f64,
        stamp: &Stamp,
        seq: u64,
        table: &mut StampTable,
        stamp_index: &mut Option<u32>,
    ) -> Option<MetricPointFacts> {
        let at = (step, timestamp);
        // Walk from the newest point to the first at or before `at` (the
        // newest itself, for an append), keeping the newer neighbour.
        let mut points = Points::new(&self.encoded);
        let mut newer = None;
        let (start, current) = loop {
            let start = points.at;
            match points.try_next().expect("a series' own encoding decodes") {
                Some(current) if current.at() > at => newer = Some(current),
                current => break (start, current),
            }
        };
        let replaces = current.is_some_and(|current| current.at() == at);
        let point = MetricPointFacts {
            step,
            timestamp,
            value,
            stamp: table.index_of(stamp, seq, stamp_index),
        };
        if let Some(current) = current
            && replaces
        {
            let held = table.get(current.stamp);
            if held > StampRef::from(stamp) {
                return Some(point);
            }
            if held == StampRef::from(stamp) {
                // The same event logged the point twice: the first stays,
                // and the second can never win in any view either.
                return None;
            }
        }
        // The older neighbour, re-encoded against the new point: `current`
        // when inserting before it, the one after `current` when replacing it.
        let older = if replaces {
            points.try_next().expect("a series' own encoding decodes")
        } else {
            current
        };
        let end = points.at;
        let mut bytes = PointBytes::of(newer.as_ref(), &point);
        if let Some(older) = older {
            bytes.push(&point, &older);
        }
        let (bytes, kept) = (bytes.as_slice(), &self.encoded);
        let mut encoded = Vec::with_capacity(kept.len() - (end - start) + bytes.len());
        encoded.extend_from_slice(&kept[..start]);
        encoded.extend_from_slice(bytes);
        encoded.extend_from_slice(&kept[end..]);
        self.encoded = encoded.into_boxed_slice();
        if !replaces {
            self.len += 1;
        }
        current.filter(|_| replaces)
    }

    pub fn key(&self) -> &str {
        self.key.as_str()
    }

    pub(crate) fn name(&self) -> &Name {
        &self.key
    }

    /// The value at the highest step, latest timestamp within it.
    pub fn latest(&self) -> MetricPointFacts {
        Points::new(&self.encoded)
            .try_next()
            .ok()
            .flatten()
            .expect("a series has a point, and its own encoding decodes")
    }

    /// Every point, in (step, timestamp) order.
    pub fn points(&self) -> impl Iterator<Item = MetricPointFacts> + use<> {
        let mut points: Vec<MetricPointFacts> = Points::new(&self.encoded)
            .map(|point| point.expect("a series' own encoding decodes"))
            .collect();
        points.reverse();
        points.into_iter()
    }

    /// The points' encoding, newest first, for snapshots
    /// ([`MetricSeries::from_encoded`] reads it back).
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The bytes the points' encoding takes.
    pub fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    /// The number of points; at least one.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a series exists from its first point.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Points encoded one after the other, each against the one before it, the
/// first whole.
fn encode<'a>(points: impl Iterator<Item = &'a MetricPointFacts>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = None;
    for point in points {
        encode_point(&mut out, previous, point);
        previous = Some(point);
    }
    out.shrink_to_fit();
    out
}

impl StampTable {
    /// The index of `stamp`, added to the table on first use (`index` caches
    /// it for the points of one event).
    pub(crate) fn index_of(&mut self, stamp: &Stamp, seq: u64, index: &mut Option<u32>) -> u32 {
        *index.get_or_insert_with(|| self.push(stamp.into(), seq))
    }
}

/// The most bytes one point can take: four varints of up to ten bytes.
const MAX_POINT_BYTES: usize = 40;
/// The bytes of the fixed fields of the newest point: time and value.
const FIXED: usize = 8;

/// The four varints of `point` encoded against `previous`.
fn deltas(previous: &MetricPointFacts, point: &MetricPointFacts) -> [u64; 4] {
    let (value, previous_value) = (point.value, previous.value);
    [
        zigzag(point.step.wrapping_sub(previous.step)),
        zigzag(
            point
                .timestamp
                .unix_nanos()
                .wrapping_sub(previous.timestamp.unix_nanos()),
        ),
        value.to_bits() ^ previous_value.to_bits(),
        zigzag(i64::from(point.stamp).wrapping_sub(i64::from(previous.stamp))),
    ]
}

/// `point` encoded against `previous`, or whole as the newest if none.
fn encode_point(out: &mut Vec<u8>, previous: Option<&MetricPointFacts>, point: &MetricPointFacts) {
    out.extend_from_slice(PointBytes::of(previous, point).as_slice());
}

/// The encoding of up to two points, on the stack: an append writes one,
/// a splice two (the new point and the one after it).
struct PointBytes {
    bytes: [u8; 2 * MAX_POINT_BYTES],
    len: usize,
}

impl PointBytes {
    /// `point` encoded against `previous`, or whole as the newest if none.
    fn of(previous: Option<&MetricPointFacts>, point: &MetricPointFacts) -> Self {
        let mut bytes = Self {
            bytes: [0; 2 * MAX_POINT_BYTES],
            len: 0,
        };
        match previous {
            Some(previous) => bytes.push(previous, point),
            None => {
                bytes.varint(zigzag(point.step));
                bytes.fixed(point.timestamp.unix_nanos().to_le_bytes());
                bytes.fixed(point.value.to_bits().to_le_bytes());
                bytes.varint(u64::from(point.stamp));
            }
        }
        bytes
    }

    /// Appends `point` encoded against `previous` (there is room for two).
    fn push(&mut self, previous: &MetricPointFacts, point: &MetricPointFacts) {
        for delta in deltas(previous, point) {
            self.varint(delta);
        }
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes[self.len] = value as u8 | 0x80;
            self.len += 1;
            value >>= 7;
        }
        self.bytes[self.len] = value as u8;
        self.len += 1;
    }

    fn fixed(&mut self, bytes: [u8; FIXED]) {
        self.bytes[self.len..self.len + FIXED].copy_from_slice(&bytes);
        self.len += FIXED;
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Decodes points one after the other; an error ends the iteration.
struct Points<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The point decoded last; `None` before the newest.
    previous: Option<MetricPointFacts>,
}

impl<'a> Points<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            previous: None,
        }
    }

    fn try_next(&mut self) -> Result<Option<MetricPointFacts>, SeriesError> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let point = match self.previous {
            None => MetricPointFacts {
                step: unzigzag(self.varint()?),
                timestamp: EventTime::from_unix_nanos(i64::from_le_bytes(self.fixed()?)),
                value: f64::from_bits(u64::from_le_bytes(self.fixed()?)),
                stamp: u32::try_from(self.varint()?).map_err(|_| SeriesError::BadStamp)?,
            },
            Some(previous) => {
                let step = previous.step.wrapping_add(unzigzag(self.varint()?));
                let nanos = previous
                    .timestamp
                    .unix_nanos()
                    .wrapping_add(unzigzag(self.varint()?));
                let previous_value = previous.value;
                let value = f64::from_bits(previous_value.to_bits() ^ self.varint()?);
                let stamp = i64::from(previous.stamp).wrapping_add(unzigzag(self.varint()?));
                MetricPointFacts {
                    step,
                    timestamp: EventTime::from_unix_nanos(nanos),
                    value,
                    stamp: u32::try_from(stamp).map_err(|_| SeriesError::BadStamp)?,
                }
            }
        };
        if !(EventTime::MIN..=EventTime::MAX).contains(&{ point.timestamp }) {
            return Err(SeriesError::BadTime);
        }
        self.previous = Some(point);
        Ok(Some(point))
    }

    fn fixed(&mut self) -> Result<[u8; FIXED], SeriesError> {
        let bytes = self
            .bytes
            .get(self.at..self.at + FIXED)
            .ok_or(SeriesError::Truncated)?;
        self.at += FIXED;
        Ok(bytes.try_into().unwrap_or([0; FIXED]))
    }

    fn varint(&mut self) -> Result<u64, SeriesError> {
        // Most step and stamp deltas take one byte.
        if let Some(&byte) = self.bytes.get(self.at)
            && byte < 0x80
        {
            self.at += 1;
            return Ok(u64::from(byte));
        }
        // Timestamp deltas and value bits take several bytes: up to eight
        // are decoded from one load, without a branch per byte (the loop
        // below was most of a snapshot's decoding).
        if let Some(word) = self.bytes.get(self.at..self.at + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0xff; 8]));
            let ends = !word & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = ends.trailing_zeros() / 8 + 1;
                let kept = if len == 8 {
                    word
                } else {
                    word & ((1u64 << (len * 8)) - 1)
                };
                self.at += len as usize;
                return Ok(gather_septets(kept));
            }
        }
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or(SeriesError::BadVarint)?;
            self.at += 1;
            if shift == 63 && byte > 1 {
                return Err(SeriesError::BadVarint);
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SeriesError::BadVarint)
    }
}

/// Whether `encoded` holds exactly `len` points newest first: each one
/// decodes, in order, with its stamp index below `stamps`.
pub(crate) fn check_encoded(encoded: &[u8], len: u32, stamps: usize) -> Result<(), SeriesError> {
    if len == 0 {
        return Err(SeriesError::Truncated);
    }
    let mut points = Points::new(encoded);
    let mut previous = None::<MetricPointFacts>;
    for _ in 0..len {
        let point = points.try_next()?.ok_or(SeriesError::Truncated)?;
        if previous.is_some_and(|previous| previous.at() <= point.at()) {
            return Err(SeriesError::OutOfOrder);
        }
        if point.stamp as usize >= stamps {
            return Err(SeriesError::BadStamp);
        }
        previous = Some(point);
    }
    if points.at != encoded.len() {
        return Err(SeriesError::TrailingBytes);
    }
    Ok(())
}

/// The value of a varint of at most eight bytes, loaded little-endian into
/// `word` (bytes past its end zeroed): each byte's low seven bits, in order.
fn gather_septets(word: u64) -> u64 {
    (0..8).fold(0, |value, byte| {
        value | ((word >> byte) & (0x7f << (7 * byte)))
    })
}

impl Iterator for Points<'_> {
    type Item = Result<MetricPointFacts, SeriesError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.try_next().transpose()
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;

    fn stamp(n: i64) -> Stamp {
        Stamp {
            occurred_at: EventTime::from_unix_nanos(n),
            event_id: EventId::new_unchecked(format!("e{n}")),
        }
    }

    /// `series` encoded and decoded back.
    fn decoded(series: &MetricSeries, stamps: usize) -> Result<MetricSeries, SeriesError> {
        let len = series.len() as u32;
        MetricSeries::from_encoded(Name::new("m"), series.encoded(), len, stamps)
    }

    fn point(step: i64, seconds: i64, value: f64, stamp: u32) -> MetricPointFacts {
        MetricPointFacts {
            step,
            timestamp: EventTime::from_unix_nanos(seconds * 1_000_000_000),
            value,
            stamp,
        }
    }

    #[test]
    fn varints_of_every_length_decode_alone_and_followed_by_more_bytes() {
        // Values around each length's limits; decoded with bytes after them
        // (eight loaded at once) and as the last bytes (one at a time).
        let values = (0..64)
            .flat_map(|bit| {
                let power = 1u64 << bit;
                [power - 1, power, power + 1, power.wrapping_mul(3) | 0x55]
            })
            .chain([u64::MAX, u64::MAX - 1, 0x8080_8080_8080_8080]);
        for value in values {
            let mut bytes = PointBytes {
                bytes: [0; 2 * MAX_POINT_BYTES],
                len: 0,
            };
            bytes.varint(value);
            let alone = bytes.as_slice().to_vec();
            let mut followed = alone.clone();
            followed.extend_from_slice(&[0xff; 9]);
            for encoded in [&alone, &followed] {
                let mut points = Points::new(encoded);
                assert_eq!(points.varint(), Ok(value), "{value:#x} in {encoded:?}");
                assert_eq!(points.at, alone.len(), "{value:#x}");
            }
        }
        // Unterminated, and eleven bytes long: errors, however many follow.
        assert_eq!(
            Points::new(&[0xff; 9]).varint(),
            Err(SeriesError::BadVarint)
        );
        assert_eq!(
            Points::new(&[0xff; 12]).varint(),
            Err(SeriesError::BadVarint)
        );
    }

    #[test]
    fn round_trips_extreme_values() {
        let points = vec![
            point(i64::MIN, 0, f64::NAN, 3),
            point(-1, 7_258_118_400, -0.0, 0),
            point(0, 0, f64::INFINITY, u32::MAX),
            point(0, 1, 1e-300, 0),
            point(i64::MAX, 5, f64::MIN_POSITIVE, 17),
        ];
        let series = MetricSeries::from_sorted(Name::new("m"), points.clone()).expect("points");
        let back: Vec<_> = series.points().collect();
        assert_eq!(back.len(), points.len());
        for (a, b) in back.iter().zip(&points) {
            let (a_value, b_value) = (a.value, b.value);
            assert_eq!(a_value.to_bits(), b_value.to_bits());
            assert_eq!((a.at(), { a.stamp }), (b.at(), { b.stamp }));
        }
        assert_eq!(series.latest().at(), points[4].at());
        assert_eq!(decoded(&series, u32::MAX as usize + 1), Ok(series.clone()));
    }

    #[test]
    fn appends_inserts_and_keeps_the_greatest_stamp() {
        let mut table = StampTable::default();
        let record = |series: &mut MetricSeries, table: &mut StampTable, step, value, s| {
            series.record(
                step,
                EventTime::from_unix_nanos(0),
                value,
                &stamp(s),
                0,
                table,
                &mut None,
            );
        };
        let mut first = None;
        let first_index = table.index_of(&stamp(10), 0, &mut first);
        let mut series = MetricSeries::new(
            Name::new("loss"),
            MetricPointFacts {
                step: 5,
                timestamp: EventTime::from_unix_nanos(0),
                value: 0.5,
                stamp: first_index,
            },
        );
        record(&mut series, &mut table, 7, 0.3, 11); // append
        record(&mut series, &mut table, 1, 0.9, 12); // insert before
        record(&mut series, &mut table, 5, 0.4, 9); // older stamp: loses
        record(&mut series, &mut table, 7, 0.2, 13); // newer stamp: wins
        let values: Vec<(i64, f64)> = series.points().map(|p| (p.step, p.value)).collect();
        assert_eq!(values, vec![(1, 0.9), (5, 0.5), (7, 0.2)]);
        assert_eq!(series.len(), 3);
        assert_eq!(series.points().count(), 3);
        let latest = series.latest();
        assert_eq!(({ latest.step }, { latest.value }), (7, 0.2));
    }

    proptest::proptest! {
        /// Points recorded in any order, re-logged with older or newer
        /// stamps, read back as a sorted map keeping the greatest stamp
        /// would hold them.
        #[test]
        fn records_like_a_sorted_map(
            records in proptest::collection::vec((0i64..12, 0i64..3, -5i64..5, 0i64..40), 1..60)
        ) {
            use std::collections::BTreeMap;
            let mut table = StampTable::default();
            let mut model: BTreeMap<(i64, i64), (f64, i64)> = BTreeMap::new();
            let mut series: Option<MetricSeries> = None;
            for (step, seconds, value, stamp_n) in records {
                let value = value as f64 / 4.0;
                let time = EventTime::from_unix_nanos(seconds * 1_000_000_000);
                let mut index = None;
                match &mut series {
                    None => {
                        let stamp = table.index_of(&stamp(stamp_n), 0, &mut index);
                        series = Some(MetricSeries::new(
                            Name::new("m"),
                            MetricPointFacts { step, timestamp: time, value, stamp },
                        ));
                    }
                    Some(series) => {
                        series.record(step, time, value, &stamp(stamp_n), 0, &mut table, &mut index);
                    }
                }
                let entry = model.entry((step, seconds)).or_insert((value, stamp_n));
                if stamp_n > entry.1 {
                    *entry = (value, stamp_n);
                }
            }
            let series = series.expect("at least one record");
            let points: Vec<(i64, i64, f64)> = series
                .points()
                .map(|p| (p.step, p.timestamp.unix_nanos() / 1_000_000_000, p.value))
                .collect();
            let expected: Vec<(i64, i64, f64)> =
                model.iter().map(|(&(step, s), &(value, _))| (step, s, value)).collect();
            proptest::prop_assert_eq!(&points, &expected);
            proptest::prop_assert_eq!(series.len(), expected.len());
            let latest = series.latest();
            let last = expected.last().expect("not empty");
            proptest::prop_assert_eq!(
                ({ latest.step }, latest.timestamp.unix_nanos() / 1_000_000_000, { latest.value }),
                *last
            );
            proptest::prop_assert_eq!(decoded(&series, table.len()), Ok(series.clone()));
        }
    }

    #[test]
    fn a_repeated_value_takes_four_bytes() {
        let points = (0..100).map(|step| point(step, 0, 0.125, 0));
        let series = MetricSeries::from_sorted(Name::new("lr"), points).expect("points");
        // The newest point pays for its absolute value and time.
        assert!(
            series.encoded_len() <= 4 * 99 + 20,
            "{}",
            series.encoded_len()
        );
    }

    #[test]
    fn rejects_bad_encodings() {
        let series =
            MetricSeries::from_sorted(Name::new("m"), [point(1, 1, 1.0, 2), point(2, 2, 2.0, 3)])
                .expect("points");
        let bytes = series.encoded().to_vec();
        let decode = |bytes: &[u8], len, stamps| {
            MetricSeries::from_encoded(Name::new("m"), bytes, len, stamps)
        };
        assert!(decode(&bytes, 2, 4).is_ok());
        assert_eq!(decode(&bytes, 2, 3), Err(SeriesError::BadStamp));
        assert_eq!(decode(&bytes, 3, 4), Err(SeriesError::Truncated));
        assert_eq!(decode(&bytes, 1, 4), Err(SeriesError::TrailingBytes));
        assert_eq!(decode(&bytes, 0, 4), Err(SeriesError::Truncated));
        assert_eq!(
            decode(&bytes[..bytes.len() - 1], 2, 4),
            Err(SeriesError::BadVarint)
        );
        assert_eq!(decode(&[0xff; 11], 1, 4), Err(SeriesError::BadVarint));
        // The newest point's fixed time cut short.
        assert_eq!(decode(&bytes[..5], 2, 4), Err(SeriesError::Truncated));
        // The points oldest first.
        let oldest_first = encode([point(1, 1, 1.0, 2), point(2, 2, 2.0, 3)].iter());
        assert_eq!(decode(&oldest_first, 2, 4), Err(SeriesError::OutOfOrder));
        // The second point encoded at the same (step, timestamp) as the first.
        let mut same = Vec::new();
        encode_point(&mut same, None, &point(1, 1, 1.0, 0));
        encode_point(&mut same, Some(&point(1, 1, 1.0, 0)), &point(1, 1, 2.0, 0));
        assert_eq!(decode(&same, 2, 4), Err(SeriesError::OutOfOrder));
        // A time before 1970.
        let mut early = Vec::new();
        encode_point(&mut early, None, &point(1, 1, 1.0, 0));
        encode_point(
            &mut early,
            Some(&point(1, 1, 1.0, 0)),
            &point(2, -5, 1.0, 0),
        );
        assert_eq!(decode(&early, 2, 4), Err(SeriesError::BadTime));
    }
}
