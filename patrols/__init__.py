"""Patrols (巡查) of grid workers: tracks, their analysis against assigned areas, check-ins, visit cycles."""
