use stein::autodiff::*;
use num_traits::Float;
fn f<S: Real>(x: &[S]) -> S { x[0].mul_add(x[1], x[0]).sin() }
fn main() {
    for x in [[1.5, 1.9], [-1.9, 1.7], [0.3, -0.2]] {
        let g = grad(|v| f(v), &x);
        let h = 1e-6;
        let fd = (f(&[x[0]+h, x[1]]) - f(&[x[0]-h, x[1]])) / (2.0*h);
        let ex = (x[0]*x[1]+x[0]).cos() * (x[1] + 1.0);
        println!("{:?} tape {} fd {} exact {}", x, g[0], fd, ex);
    }
}
