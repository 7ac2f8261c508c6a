"""Pure data handling: decoding input ConfigMaps into rows, and packing results into ConfigMaps."""
