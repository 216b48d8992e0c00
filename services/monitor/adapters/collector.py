"""Prometheus collector that renders :class:`MonitorState` at scrape time.

Counters and histograms are kept as plain numbers in the pure core (cheap per message, see
PERF_NOTES); ages, staleness and liveness are computed here from the scrape's ``now``. The
collector takes the state lock only while it copies numbers out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.monitor.core.histogram import Histogram
from services.monitor.core.state import MonitorState

P = "tickwire_monitor"


def _hist(family: HistogramMetricFamily, labels: list[str], hist: Histogram) -> None:
    family.add_metric(labels, hist.cumulative(), hist.total)


class MonitorCollector(Collector):
    """Yields every ``tickwire_monitor_*`` family from the state, under ``lock``."""

    def __init__(self, state: MonitorState, lock: threading.Lock, now_ns: Callable[[], int]) -> None:
        self.state = state
        self.lock = lock
        self.now_ns = now_ns

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            return iter(list(self._collect(self.now_ns())))

    def _collect(self, now: int) -> Iterator[Metric]:
        st = self.state
        sym = ["category", "symbol"]

        lat = HistogramMetricFamily(
            f"{P}_latency_seconds",
            "Latency by stage: exchange_to_feed, feed_to_monitor, feed_to_book, book_to_monitor, "
            "exchange_to_book (end to end: exchange time to queryable book), exchange_to_monitor",
            labels=["stage", *sym],
        )
        for (stage, cat, s), hist in sorted(st.latency.items()):
            _hist(lat, [stage, cat, s], hist)
        yield lat

        skew = CounterMetricFamily(
            f"{P}_clock_skew", "Latency samples below zero (clock skew), counted as 0", labels=["stage"]
        )
        for stage, n in st.clock_skew.items():
            skew.add_metric([stage], n)
        yield skew

        msgs = CounterMetricFamily(
            f"{P}_messages", "Bus messages received, by kind and symbol", labels=["kind", *sym]
        )
        for (kind, cat, s), n in sorted(st.messages.items()):
            msgs.add_metric([kind, cat, s], n)
        yield msgs

        for name, doc, values in (
            ("bus_received", "Bus messages received, by publisher", st.received),
            ("bus_gaps", "bus_seq gaps (lost messages) seen, by publisher", st.gaps),
            ("bus_lost_messages", "Messages lost on the bus, by publisher", st.lost),
            ("bus_decode_errors", "Undecodable bus payloads, by publisher", st.decode_errors),
        ):
            fam = CounterMetricFamily(f"{P}_{name}", doc, labels=["publisher"])
            for pub, n in sorted(values.items()):
                fam.add_metric([pub], n)
            yield fam

        stale = GaugeMetricFamily(
            f"{P}_staleness_seconds",
            "Seconds since the last md.book (source=feed) or bk.bbo (source=book) message of a symbol",
            labels=["source", *sym],
        )
        for (source, cat, s), seconds in sorted(st.staleness(now).items()):
            stale.add_metric([source, cat, s], seconds)
        yield stale

        book_state = GaugeMetricFamily(
            f"{P}_book_state",
            "1 for the current state of each book (from bk.bbo, else the probe)",
            labels=[*sym, "state"],
        )
        for (cat, s), view in sorted(st.symbols.items()):
            current = view.book_state or st.probe.states.get((cat, s), "")
            if current:
                book_state.add_metric([cat, s, current], 1)
        yield book_state

        changes = CounterMetricFamily(
            f"{P}_book_state_changes",
            "Book state transitions seen on bk.bbo, by new state",
            labels=[*sym, "state"],
        )
        for (cat, s, state), n in sorted(st.book_states.items()):
            changes.add_metric([cat, s, state], n)
        yield changes

        resyncs = CounterMetricFamily(f"{P}_book_resyncs", "Book entered syncing/resyncing", labels=sym)
        for (cat, s), n in sorted(st.resyncs.items()):
            resyncs.add_metric([cat, s], n)
        yield resyncs

        stream = GaugeMetricFamily(
            f"{P}_feed_stream_state",
            "1 for the feed's current stream state of each symbol",
            labels=[*sym, "state"],
        )
        for (cat, s), view in sorted(st.symbols.items()):
            if view.stream_state:
                stream.add_metric([cat, s, view.stream_state], 1)
        yield stream

        disc = CounterMetricFamily(
            f"{P}_feed_disconnects", "Feed streams that went disconnected/error", labels=sym
        )
        for (cat, s), n in sorted(st.disconnects.items()):
            disc.add_metric([cat, s], n)
        yield disc

        reports = CounterMetricFamily(
            f"{P}_order_reports", "Execution reports seen, by status", labels=["status", *sym]
        )
        for (status, cat, s), n in sorted(st.reports.items()):
            reports.add_metric([status, cat, s], n)
        yield reports

        rejects = CounterMetricFamily(f"{P}_order_rejects", "Rejected orders, by code", labels=["code"])
        for code, n in sorted(st.rejects.items()):
            rejects.add_metric([code], n)
        yield rejects

        up = GaugeMetricFamily(
            f"{P}_service_up", "1 if the service's heartbeat is recent", labels=["service"]
        )
        hb_age = GaugeMetricFamily(
            f"{P}_heartbeat_age_seconds", "Seconds since the last heartbeat", labels=["service"]
        )
        hbs = CounterMetricFamily(f"{P}_heartbeats", "Heartbeats received", labels=["service"])
        restarts = CounterMetricFamily(
            f"{P}_service_restarts", "Publisher restarts seen (new heartbeat epoch)", labels=["service"]
        )
        for name, svc in sorted(st.services.items()):
            up.add_metric([name], 1.0 if st.service_up(name, now) else 0.0)
            hb_age.add_metric([name], st.age(svc.last_ns, now))
            hbs.add_metric([name], st.heartbeats.get(name, 0))
            restarts.add_metric([name], svc.restarts)
        yield from (up, hb_age, hbs, restarts)

        probe = st.probe
        yield GaugeMetricFamily(
            f"{P}_book_probe_ok", "1 if the last book status probe succeeded", value=probe.ok
        )
        yield GaugeMetricFamily(
            f"{P}_book_probe_age_seconds",
            "Seconds since the last successful book probe",
            value=st.age(probe.last_ok_ns, now),
        )
        yield CounterMetricFamily(f"{P}_book_probe_failures", "Failed book probes", value=probe.failures)
        plat = HistogramMetricFamily(f"{P}_book_probe_latency_seconds", "Book status+symbols round trip")
        plat.add_metric([], probe.latency.cumulative(), probe.latency.total)
        yield plat
