from latentsep.cli import main

raise SystemExit(main())
