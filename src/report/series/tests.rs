//! The series against small windows files written by the real window writer.

use super::*;
use crate::window::{write_json_lines, CellWindow, ClosedWindow, EventCounts, MachineWindow};

const MIN: u64 = 60_000_000;

fn cell(k: u64, cpu: f64, running: u64, submits: u64) -> CellWindow {
    let mut task = EventCounts::default();
    task.0[0] = submits;
    task.0[2] = k; // EVICT
    CellWindow {
        window_start: k * MIN,
        window_end: (k + 1) * MIN,
        task_events_by_type: task,
        job_events_by_type: EventCounts([1; 9]),
        running_tasks: running,
        pending_tasks: 2 * running,
        allocated_cpu: cpu,
        allocated_memory: cpu / 2.0,
        ..Default::default()
    }
}

fn machine(k: u64, id: u64, cpu: f64, peak: f64) -> MachineWindow {
    MachineWindow {
        window_start: k * MIN,
        window_end: (k + 1) * MIN,
        machine_id: id,
        task_events: 1,
        allocated_cpu: cpu,
        allocated_memory: cpu / 4.0,
        peak_allocated_cpu: peak,
        evictions: 1,
        kills: 2,
        ..Default::default()
    }
}

fn file(windows: &[(CellWindow, Vec<MachineWindow>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (c, ms) in windows {
        let closed = ClosedWindow {
            cell: c.clone(),
            machines: ms.clone(),
        };
        write_json_lines(&mut out, &closed).unwrap();
    }
    out
}

fn limits(series: usize, columns: usize, rows: usize) -> Limits {
    Limits {
        series_points: series,
        heatmap_columns: columns,
        heatmap_rows: rows,
        top_machines: 10,
    }
}

fn read_bytes(bytes: &[u8], l: Limits) -> Result<Report, ReportError> {
    read(bytes, Path::new("w.jsonl"), &l)
}

/// Windows 0, 1 and 4 have lines (2 and 3 had no event); machine 7 has lines in windows 0 and
/// 3, machine 9 in window 1 only.
fn small() -> Vec<u8> {
    file(&[
        (cell(0, 1.0, 10, 6), vec![machine(0, 7, 0.5, 0.5)]),
        (cell(1, 2.0, 20, 3), vec![machine(1, 9, 1.0, 1.0)]),
        (cell(3, 2.0, 20, 0), vec![machine(3, 7, 0.25, 0.75)]),
        (cell(4, 4.0, 40, 0), vec![]),
    ])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn one_window_per_point_holds_states_and_sums_events() {
    let r = read_bytes(&small(), Limits::default()).unwrap();
    assert_eq!(
        (r.lines, r.windows, r.machine_lines, r.machines),
        (7, 4, 3, 2)
    );
    assert_eq!((r.first_window, r.last_window, r.width_us), (0, 4, MIN));
    assert_eq!(r.windows_per_point, 1);
    // Window 2 has no line: the cell state of window 1 is held through it.
    let cpu: Vec<f64> = r.points.iter().map(|p| p.cpu_mean).collect();
    assert_eq!(cpu, [1.0, 2.0, 2.0, 2.0, 4.0]);
    let running: Vec<f64> = r.points.iter().map(|p| p.running_mean).collect();
    assert_eq!(running, [10.0, 20.0, 20.0, 20.0, 40.0]);
    let submits: Vec<f64> = r.points.iter().map(|p| p.task_per_minute[0]).collect();
    assert_eq!(submits, [6.0, 3.0, 0.0, 0.0, 0.0]);
    assert_eq!(r.points[4].start_us, 4 * MIN);
    assert_eq!(r.points[4].end_us, 5 * MIN);
    assert_eq!(r.task_events_by_type[0], 9);
    assert_eq!(r.task_events_by_type[2], 1 + 3 + 4);
    assert_eq!(r.job_events_by_type, [4; 9]);
    assert_eq!(r.peak_cell_cpu, (4.0, 4 * MIN));
    assert_eq!(r.peak_pending, (80, 4 * MIN));

    // Machine 7: 0.5 held over windows 0-2, then 0.25 held to the end; machine 9: 0 before
    // its first line, then 1.0 to the end. Machine 9 has the higher mean: first row.
    let h = &r.heatmap;
    assert_eq!(h.machines_per_row, 1);
    assert_eq!(h.values[0], [0.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(h.values[1], [0.5, 0.5, 0.5, 0.25, 0.25]);
    assert_eq!(h.columns[0], (0, MIN));
    assert_eq!(h.max, 1.0);

    // Top machines by peak: 9 (1.0) then 7 (0.75, reached in window 3).
    assert_eq!(r.top.len(), 2);
    assert_eq!((r.top[0].machine_id, r.top[0].peak_cpu), (9, 1.0));
    assert_eq!(r.top[1].machine_id, 7);
    assert_eq!((r.top[1].peak_cpu, r.top[1].peak_at_us), (0.75, 3 * MIN));
    assert!(close(r.top[1].mean_cpu, (0.5 * 3.0 + 0.25 * 2.0) / 5.0));
    assert_eq!(r.top[1].peak_memory, 0.125);
    assert_eq!(
        (r.top[1].task_events, r.top[1].evictions, r.top[1].kills),
        (2, 2, 4)
    );
}

#[test]
fn down_sampling_merges_pairs_of_buckets() {
    // A cap of 2: window 4 needs buckets of 4 windows (0-3, 4).
    let r = read_bytes(&small(), limits(2, 2, 1)).unwrap();
    assert_eq!(r.windows_per_point, 4);
    assert_eq!(r.points.len(), 2);
    let p = &r.points[0];
    assert_eq!((p.start_us, p.end_us, p.windows), (0, 4 * MIN, 4));
    assert!(close(p.cpu_mean, (1.0 + 2.0 + 2.0 + 2.0) / 4.0));
    assert_eq!(p.cpu_max, 2.0);
    assert!(close(p.task_per_minute[0], 9.0 / 4.0));
    let p = &r.points[1];
    assert_eq!((p.start_us, p.end_us, p.windows), (4 * MIN, 5 * MIN, 1));
    assert_eq!(p.cpu_mean, 4.0);

    // One heatmap row for both machines: their mean per column.
    let h = &r.heatmap;
    assert_eq!(r.windows_per_column, 4);
    assert_eq!((h.values.len(), h.machines_per_row), (1, 2));
    let m7 = (0.5 * 3.0 + 0.25) / 4.0;
    let m9 = 3.0 / 4.0;
    assert!(close(f64::from(h.values[0][0]), (m7 + m9) / 2.0));
    assert!(close(f64::from(h.values[0][1]), (0.25 + 1.0) / 2.0));
    assert_eq!(h.columns, [(0, 4 * MIN), (4 * MIN, 5 * MIN)]);
}

/// A few hundred windows with gaps, many machines, values from a fixed generator.
fn busy() -> Vec<u8> {
    let mut x: u64 = 12345;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut windows = Vec::new();
    let mut k = 3;
    while k < 700 {
        let mut ms = Vec::new();
        for i in 0..40 {
            if next() % 3 == 0 {
                let v = (next() % 1000) as f64 / 1000.0;
                ms.push(machine(k, 1000 + i, v, v + 0.01));
            }
        }
        windows.push((
            cell(k, (next() % 500) as f64, next() % 100, next() % 50),
            ms,
        ));
        k += 1 + next() % 3;
    }
    file(&windows)
}

#[test]
fn coarse_points_are_the_window_weighted_means_of_fine_ones() {
    let bytes = busy();
    let fine = read_bytes(&bytes, limits(4096, 4096, 4096)).unwrap();
    assert_eq!(fine.windows_per_point, 1);
    for cap in [2, 5, 16, 100] {
        let coarse = read_bytes(&bytes, limits(cap, cap, 4096)).unwrap();
        let per = coarse.windows_per_point;
        assert!(coarse.points.len() <= cap, "cap {cap}");
        assert!(
            coarse.points.len() * 2 > cap.min(fine.points.len()),
            "cap {cap}"
        );
        assert_eq!(per, coarse.windows_per_column);
        for (i, p) in coarse.points.iter().enumerate() {
            let group =
                &fine.points[i * per as usize..((i + 1) * per as usize).min(fine.points.len())];
            let w: u64 = group.iter().map(|f| f.windows).sum();
            assert_eq!(p.windows, w);
            let cpu = group.iter().map(|f| f.cpu_mean).sum::<f64>() / w as f64;
            assert!(close(p.cpu_mean, cpu), "cap {cap} point {i}");
            let max = group.iter().map(|f| f.running_max).max().unwrap();
            assert_eq!(p.running_max, max);
            let submits: f64 = group.iter().map(|f| f.task_per_minute[0]).sum::<f64>() / w as f64;
            assert!(close(p.task_per_minute[0], submits));
        }
        // The same machines in the same row order (one machine per row), and the same means.
        for (fr, cr) in fine.heatmap.values.iter().zip(&coarse.heatmap.values) {
            for (c, v) in cr.iter().enumerate() {
                let group = &fr[c * per as usize..((c + 1) * per as usize).min(fr.len())];
                let mean = group.iter().map(|&x| f64::from(x)).sum::<f64>() / group.len() as f64;
                assert!((f64::from(*v) - mean).abs() < 1e-4, "cap {cap} column {c}");
            }
        }
        assert_eq!(coarse.top, fine.top);
        assert_eq!(coarse.task_events_by_type, fine.task_events_by_type);
    }
}

#[test]
fn rows_are_ordered_by_mean_and_grouped() {
    // Machines 1..=5 with constant allocations; 3 and 4 tie (ordered by ID).
    let ms = vec![
        machine(0, 1, 0.1, 0.1),
        machine(0, 2, 0.9, 0.9),
        machine(0, 3, 0.5, 0.5),
        machine(0, 4, 0.5, 0.5),
        machine(0, 5, 0.7, 0.95),
    ];
    let bytes = file(&[(cell(0, 1.0, 1, 1), ms)]);
    let r = read_bytes(&bytes, limits(8, 8, 8)).unwrap();
    let rows: Vec<f32> = r.heatmap.values.iter().map(|row| row[0]).collect();
    assert_eq!(rows, [0.9, 0.7, 0.5, 0.5, 0.1]);
    let top: Vec<u64> = r.top.iter().map(|m| m.machine_id).collect();
    assert_eq!(top, [5, 2, 3, 4, 1]);
    // 2 rows: ceil(5 / 2) = 3 machines, then 2.
    let r = read_bytes(&bytes, limits(8, 8, 2)).unwrap();
    assert_eq!(r.heatmap.machines_per_row, 3);
    let rows: Vec<f32> = r.heatmap.values.iter().map(|row| row[0]).collect();
    assert!(close(f64::from(rows[0]), (0.9 + 0.7 + 0.5) / 3.0));
    assert!(close(f64::from(rows[1]), (0.5 + 0.1) / 2.0));
}

fn err(bytes: &[u8]) -> String {
    read_bytes(bytes, Limits::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_files_name_the_line_and_field() {
    assert_eq!(
        err(b""),
        "w.jsonl: empty file: no window lines (write them with `tracepipe aggregate --out FILE`)"
    );
    let e = err(b"time,missing_info,job_id\n1,2,3\n");
    assert!(e.starts_with("w.jsonl:1: not a windows file: "), "{e}");
    let e = err(br#"{"topic":"task-events","partition":1}"#);
    assert!(
        e.starts_with("w.jsonl:1: not a windows file: no \"kind\" field"),
        "{e}"
    );

    let good = small();
    // Cut inside the last line: truncated, on line 7.
    let e = err(&good[..good.len() - 30]);
    assert!(e.starts_with("w.jsonl:7: truncated line"), "{e}");
    // The same line cut but with an end of line: invalid JSON.
    let mut cut = good[..good.len() - 30].to_vec();
    cut.push(b'\n');
    let e = err(&cut);
    assert!(e.starts_with("w.jsonl:7: invalid JSON"), "{e}");
    // A complete last line without end of line is fine.
    assert!(read_bytes(&good[..good.len() - 1], Limits::default()).is_ok());

    let text = String::from_utf8(good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let with = |i: usize, l: &str| {
        let mut v = lines.clone();
        v[i] = l;
        v.join("\n") + "\n"
    };
    let bad = lines[3].replace("\"allocated_cpu\":1.0", "\"allocated_cpu\":\"high\"");
    assert_ne!(bad, lines[3]);
    let e = err(with(3, &bad).as_bytes());
    assert_eq!(
        e,
        "w.jsonl:4: field `allocated_cpu`: unexpected value \"high\""
    );
    let e = err(with(5, "").as_bytes());
    assert_eq!(e, "w.jsonl:6: invalid JSON: empty line");
    let e = err(with(5, lines[0]).as_bytes());
    assert!(
        e.starts_with("w.jsonl:6: field `window_start`: 0 is before the previous line's 180000000"),
        "{e}"
    );
    let e = err(with(5, r#"{"kind":"job","window_start":0}"#).as_bytes());
    assert!(
        e.starts_with("w.jsonl:6: field `kind`: \"kind\" is \"job\""),
        "{e}"
    );
    let e = err(with(3, lines[2]).as_bytes());
    assert!(
        e.starts_with("w.jsonl:4: field `kind`: a second cell line"),
        "{e}"
    );
    let wide = lines[6].replace("\"window_end\":300000000", "\"window_end\":360000000");
    let e = err(with(6, &wide).as_bytes());
    assert!(
        e.starts_with("w.jsonl:7: field `window_end`: window width 120000000"),
        "{e}"
    );
}

#[test]
fn a_second_line_for_a_machine_in_a_window_is_an_error() {
    let bytes = file(&[(
        cell(0, 1.0, 1, 1),
        vec![machine(0, 7, 0.1, 0.1), machine(0, 7, 0.2, 0.2)],
    )]);
    let e = err(&bytes);
    assert!(
        e.starts_with("w.jsonl:3: field `machine_id`: a second line for machine 7"),
        "{e}"
    );
}

#[test]
fn machines_in_any_order_within_a_window_give_the_same_report() {
    let ids = [40u64, 7, 1 << 40, 3, 19, 8];
    let window = |k: u64, order: &[u64]| {
        let ms = order
            .iter()
            .map(|&id| machine(k, id, (id % 10) as f64 / 10.0 + k as f64 / 100.0, 0.5))
            .collect();
        (cell(k, 1.0, 1, 1), ms)
    };
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut reversed = sorted.clone();
    reversed.reverse();
    let a = file(&[
        window(0, &sorted),
        window(1, &sorted[2..]),
        window(2, &sorted),
    ]);
    let b = file(&[
        window(0, &ids),
        window(1, &reversed[..4]),
        window(2, &reversed),
    ]);
    let (ra, rb) = (
        read_bytes(&a, Limits::default()).unwrap(),
        read_bytes(&b, Limits::default()).unwrap(),
    );
    assert_eq!(ra, rb);
    assert_eq!(ra.machines, 6);
}
