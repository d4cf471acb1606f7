use bsp_sim::engine::Engine;
use bsp_sim::run::*;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let m = bsp_sim::Model::load(std::path::Path::new(&path)).unwrap();
    let split = load_data(
        &m,
        1,
        None,
        true,
        None,
        Some(2000),
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let mut e = build_engine(&m, 1, 2).unwrap();
    let l = &m.file.learning;
    for epoch in 0..3 {
        let order = epoch_order(1, epoch, split.train.len());
        let lr = l.schedule.lr(l.lr, epoch);
        for (b, batch) in order.chunks(l.batch_size).enumerate() {
            let t = match e.train_batch(&split.train, batch, lr) {
                Ok(t) => t,
                Err(err) => {
                    println!("{err}");
                    return;
                }
            };
            if b % std::env::var("EVERY")
                .map(|v| v.parse().unwrap())
                .unwrap_or(100)
                == 0
            {
                let norms: Vec<String> = e
                    .projections()
                    .iter()
                    .map(|p| {
                        let c = p.coefficients();
                        let mx = c.iter().fold(0f32, |a, v| a.max(v.abs()));
                        let rms = (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt();
                        format!("max {mx:.3} rms {rms:.4}")
                    })
                    .collect();
                let y = e.last_readouts(batch.len());
                let ymax = y.iter().fold(0f32, |a, v| a.max(v.abs()));
                println!(
                    "ep {epoch} b {b} loss {:.3} ymax {ymax:.2} {:?}",
                    t.mean_loss(),
                    norms
                );
            }
        }
    }
}
