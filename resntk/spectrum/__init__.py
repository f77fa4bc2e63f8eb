r"""Spectra of dot-product kernels on the sphere, and power-law fits.

Book: Appendix B ("Spherical harmonics and the Funk-Hecke formula"); Chapter 2 ("Kernel regression, the RKHS and
early stopping") and Chapter 7 ("Minimax optimality and the cost of overfitting") for the decay rates they give.

* :func:`fourier_coefficients` (the circle) and :func:`funk_hecke_eigenvalues` (any sphere) -- Mercer eigenvalues
  :math:`\mu_k` by degree; :func:`multiplicity` and :func:`repeat_by_multiplicity` -- their multiplicities and the
  index form; :func:`gegenbauer` -- the polynomials. ``gegenbauer(k, dim, t)`` and ``multiplicity(k, dim)`` take
  the degree first.
* :func:`fit_power_law` -- the one power-law fitter (exponent, prefactor and a confidence interval), for
  eigenvalue decays and measured rates alike.

Array rule: the outputs follow the inputs (``t``, ``mu``, or what the kernel callable returns): torch in, torch out;
NumPy in, NumPy out; float64 throughout.
"""

from ._harmonics import fourier_coefficients, funk_hecke_eigenvalues, gegenbauer, multiplicity, repeat_by_multiplicity
from ._powerlaw import PowerLawFit, fit_power_law

__all__ = [
    "fourier_coefficients", "funk_hecke_eigenvalues", "gegenbauer", "multiplicity", "repeat_by_multiplicity",
    "fit_power_law", "PowerLawFit",
]
