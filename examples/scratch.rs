use stein::autodiff::prelude::*;
fn field<S: Real>(v: &[S]) -> Vec<S> { vec![v[0] * v[0] * v[1], v[0] + v[1].powi(3)] }
fn main() {
    let x = [0.7, -1.3];
    let (val, _) = vjp(|v| field(v), &x, &[1.5, -0.5]);
    println!("{:?} {:?}", val, field(&x));
    println!("{:?}", hessian(|v| v[0].powf(Var::constant(1.5)), &[0.0]));
    println!("{:?}", grad(|v| v[0].powf(Var::constant(1.5)), &[0.0]));
}
