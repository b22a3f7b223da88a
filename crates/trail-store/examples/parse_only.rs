use std::io::BufRead;
use trail_store::NewEvent;
fn main() {
    let n: usize = std::env::var("N").unwrap().parse().unwrap();
    let w: usize = std::env::var("W").unwrap().parse().unwrap();
    let f = std::io::BufReader::new(std::fs::File::open(std::env::var("F").unwrap()).unwrap());
    let mut batches: Vec<Vec<String>> = vec![];
    for l in f.lines().take(n) {
        if batches.last().is_none_or(|b| b.len() == 1000) {
            batches.push(Vec::with_capacity(1000));
        }
        batches.last_mut().unwrap().push(l.unwrap());
    }
    let q = std::sync::Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let t = std::time::Instant::now();
    let hs: Vec<_> = (0..w)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut c = 0usize;
                loop {
                    let Some(b) = q.lock().unwrap().next() else {
                        break;
                    };
                    let v: Vec<NewEvent> =
                        b.into_iter().map(|l| NewEvent::parse(l).unwrap()).collect();
                    c += v.len();
                    drop(v);
                }
                c
            })
        })
        .collect();
    let c: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("{} parsed/s", c as f64 / t.elapsed().as_secs_f64());
}
