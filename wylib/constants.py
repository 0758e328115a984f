"""Constants of the study, each defined once (the paper's thresholds and the fixed category lists).

* `STABILITY_THRESHOLD`: E_hull <= 0.08 eV/atom counts as stable, the threshold used to build MP-20 and
  in the paper's S.U.N.
* `SPACE_GROUPS`: the 230 space-group numbers, the fixed category list of the corrected space-group chi^2.
* `ELEMENTS`: the 89 elements that have an elemental entry in the Materials Project (H to Pu without Po, At,
  Rn, Fr, Ra); MP-20's token vocabulary has the same 89. The fixed category list of the corrected element
  chi^2, so that its value and every bootstrap resample are over the same categories for every set.
"""

from __future__ import annotations

STABILITY_THRESHOLD = 0.08  # eV/atom

SPACE_GROUPS: tuple[int, ...] = tuple(range(1, 231))

ELEMENTS: tuple[str, ...] = tuple(
    """
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr
Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir
Pt Au Hg Tl Pb Bi Ac Th Pa U Np Pu""".split()
)

BITERNARY = (2, 3)  # distinct elements per structure in the MP-20 binary & ternary benchmark
