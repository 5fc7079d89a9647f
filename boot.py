# Runs first at every reset: outlets to their off level, then safe mode or not.
import firmware.early
