/// The states of one instance over time, built from its ordered state changes.
///
/// Each state holds over `[changedAt, next changedAt)`; the last one holds until further
/// notice. Changes at the same instant are applied in event-id order, so only the last
/// of them holds (the others last zero microseconds). `deleted` is final: changes after
/// it are set aside, never applied.
public struct StateTimeline: Sendable {
    /// A state held over `[from, to)`; `to` is nil for the state still in force.
    public struct Interval: Hashable, Sendable {
        public let from: Instant
        public let to: Instant?
        /// The interval's canonical state (see `BillableStateTable.canonical`): where it is in
        /// the timeline's `states` (`StateTimeline.state(of:)`). An interval holds no string, so
        /// copying one costs nothing and metering compares integers, not names.
        public let stateIndex: Int
        /// The change that began the interval.
        public let eventId: Int64
    }

    public let intervals: [Interval]
    /// The intervals' distinct canonical states, in the order they first hold.
    public let states: [String]
    /// Changes that came after `deleted` and were not applied.
    public let setAsideAfterDeleted: [StateChange]

    /// `changes` are one instance's changes in any order.
    public init(changes: [StateChange]) {
        let ordered = changes.isSorted(by: StateChange.inEffectOrder) ? changes : changes.sorted(by: StateChange.inEffectOrder)
        var states: [String] = []
        states.reserveCapacity(8)
        var deleted = -1
        // A change's state name -> its canonical state's index in `states`.
        var index = StateMemo<Int>()
        var intervals: [Interval] = []
        intervals.reserveCapacity(ordered.count)
        var setAside: [StateChange] = []
        // The change in force (an index into `ordered`) and its state's index.
        var current = -1, currentState = -1
        for (n, change) in ordered.enumerated() {
            if current >= 0 {
                intervals.append(Interval(from: ordered[current].changedAt, to: change.changedAt, stateIndex: currentState, eventId: ordered[current].eventId))
            }
            current = n
            currentState = index.value(of: change.state) { name in
                let canonical = BillableStateTable.canonical(name)
                if let known = states.firstIndex(of: canonical) { return known }
                states.append(canonical)
                if canonical == BillableStateTable.deleted { deleted = states.count - 1 }
                return states.count - 1
            }
            if currentState == deleted {
                // Deleted is final: what follows is set aside.
                setAside = Array(ordered[(n + 1)...])
                break
            }
        }
        if current >= 0 {
            intervals.append(Interval(from: ordered[current].changedAt, to: nil, stateIndex: currentState, eventId: ordered[current].eventId))
        }
        self.intervals = intervals
        self.states = states
        self.setAsideAfterDeleted = setAside
    }

    /// The canonical name of `interval`'s state (an interval of this timeline, clipped or not).
    public func state(of interval: Interval) -> String { states[interval.stateIndex] }

    /// What holds after the changes at instant `t`, in words for the duplicate-instant
    /// warning: the state of the last change applied there (a `deleted` is final, so the
    /// changes after it at the same instant are not), or that none is applied.
    public func holding(at t: Instant) -> String {
        guard let last = intervals.last(where: { $0.from == t }) else {
            return "none is applied: the instance was deleted before"
        }
        if state(of: last) == BillableStateTable.deleted && setAsideAfterDeleted.contains(where: { $0.changedAt == t }) {
            return "deleted (event \(last.eventId)) holds: it is final, the later ones are not applied"
        }
        return "the last, \(state(of: last)) (event \(last.eventId)), holds"
    }

    /// The intervals cut to `window`, without empty ones: disjoint and in time order.
    public func clipped(to window: BillingWindow) -> [Interval] {
        var result: [Interval] = []
        result.reserveCapacity(intervals.count)
        for interval in intervals {
            let from = max(interval.from, window.start)
            let to = min(interval.to ?? window.end, window.end)
            if from < to { result.append(Interval(from: from, to: to, stateIndex: interval.stateIndex, eventId: interval.eventId)) }
        }
        return result
    }

    /// Microseconds of `window` spent in states `table` bills.
    public func billableMicroseconds(in window: BillingWindow, table: BillableStateTable) -> Int64 {
        clipped(to: window).reduce(0) { sum, i in
            table.isBillable(state(of: i)) == true ? sum + i.from.microseconds(until: i.to!) : sum
        }
    }
}

/// Something worked out once per distinct state name of an instance (its canonical state):
/// an instance has a handful of states and a month hundreds of changes, and the reader
/// shares one string per state name, so a lookup is a comparison of short strings, lengths
/// first (most state names differ in length, and a String's is at hand).
struct StateMemo<Value> {
    private var known: [(name: String, value: Value)] = []

    init() { known.reserveCapacity(8) }

    mutating func value(of name: String, _ make: (String) -> Value) -> Value {
        let n = name.utf8.count
        for k in known where k.name.utf8.count == n && k.name == name { return k.value }
        let v = make(name)
        if known.count < 16 { known.append((name, v)) }
        return v
    }
}

extension Array {
    func isSorted(by areInIncreasingOrder: (Element, Element) -> Bool) -> Bool {
        guard count > 1 else { return true }
        for i in 1..<count where areInIncreasingOrder(self[i], self[i - 1]) { return false }
        return true
    }
}
